package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden .err files of testdata/invalid")

// TestInvalidConfigs loads every testdata/invalid/*.yaml and compares the
// full error text with the .err file beside it.
func TestInvalidConfigs(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid configs: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			_, err := Load(file)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("Load(%s) = %v, want config.Errors", file, err)
			}
			golden := strings.TrimSuffix(file, ".yaml") + ".err"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("errors of %s:\n%s\nwant:\n%s", file, got, want)
			}
		})
	}
}

func TestValidConfigs(t *testing.T) {
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	for _, file := range append(files, "default.yaml", "../examples/interface-s3.yaml") {
		t.Run(file, func(t *testing.T) {
			c, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) > 0 {
				t.Fatalf("unexpected warnings:\n%v", c.Warnings)
			}
		})
	}
}

// TestDefaultsAreAWS checks that omitted keys get AWS's default values.
func TestDefaultsAreAWS(t *testing.T) {
	c, err := Load("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Services[0]
	tg := s.TargetGroups[0]
	l := s.LoadBalancer.Listeners[0]
	checks := []struct {
		name      string
		got, want any
	}{
		{"idle_timeout", l.IdleTimeout.D(), 350 * time.Second},
		{"port_budget", tg.PortBudget, 55000},
		{"port_reuse_delay", tg.PortReuseDelay.D(), 60 * time.Second},
		{"deregistration_delay", tg.DeregistrationDelay.D(), 300 * time.Second},
		{"health interval", tg.HealthCheck.Interval.D(), 30 * time.Second},
		{"health timeout", tg.HealthCheck.Timeout.D(), 10 * time.Second},
		{"healthy_threshold", tg.HealthCheck.HealthyThreshold, 5},
		{"unhealthy_threshold", tg.HealthCheck.UnhealthyThreshold, 2},
		{"proxy_protocol_v2", tg.ProxyProtocolV2, false},
		{"placement", tg.ProxyProtocolV2Placement, PlacementFirstData},
		{"unhealthy_connection_termination", tg.UnhealthyConnectionTermination, true},
		{"deregistration_connection_termination", tg.DeregistrationConnectionTermination, false},
		{"cross_zone", s.LoadBalancer.CrossZone, false},
		{"enforce_inbound_rules_on_privatelink", s.LoadBalancer.EnforceInboundRulesOnPrivateLink, true},
		{"acceptance_required", s.AcceptanceRequired, false},
		{"target port", tg.Targets[0].Port, uint16(9443)},
		{"target az from subnet", tg.Targets[0].AZ, "use1-az1"},
		{"node az from subnet", s.LoadBalancer.Nodes[0].AZ, "use1-az1"},
		{"lb name", s.LoadBalancer.Name, "nlb-0123456789abcdef0"},
		{"principal", c.Endpoints[0].Principal, "arn:aws:iam::111122223333:root"},
		{"deny_action", c.DenyAction, DenyDrop},
		{"admin", c.Admin.Listen, "127.0.0.1:9480"},
		{"flow log interval", c.FlowLogs.Interval.D(), 600 * time.Second},
		{"flow logs off", c.FlowLogs.Enabled(), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestWarningsForTestFriendlyValues(t *testing.T) {
	c, err := Parse("t.yaml", []byte(strings.Replace(minimalYAML(t), "listeners: [{port: 8443, target_group: tg}]",
		"listeners: [{port: 8443, target_group: tg, idle_timeout: 2s}]", 1)))
	if err != nil {
		t.Fatal(err)
	}
	want := "t.yaml:9: services[0].load_balancer.listeners[0].idle_timeout: 2s is below AWS's minimum of 60s; accepted for tests"
	if len(c.Warnings) != 1 || c.Warnings[0].Error() != want {
		t.Fatalf("warnings %v, want %q", c.Warnings, want)
	}
}

func TestPrincipalOutsideAllowedIsAWarning(t *testing.T) {
	y := strings.Replace(minimalYAML(t), "  - id: vpce-svc-0123456789abcdef0\n",
		"  - id: vpce-svc-0123456789abcdef0\n    allowed_principals: [\"arn:aws:iam::444455556666:root\"]\n", 1)
	c, err := Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Msg, "will be rejected") {
		t.Fatalf("warnings %v", c.Warnings)
	}
}

func TestOverrides(t *testing.T) {
	c, err := Load("testdata/valid/minimal.yaml",
		Override{Key: "admin.listen", Value: "off", Source: "flag --admin"},
		Override{Key: "deny_action", Value: "reset", Source: "env PRIVLINK_DENY_ACTION"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin.Enabled() || c.DenyAction != DenyReset {
		t.Fatalf("overrides not applied: admin %q deny %q", c.Admin.Listen, c.DenyAction)
	}
	_, err = Load("testdata/valid/minimal.yaml", Override{Key: "deny_action", Value: "explode", Source: "env PRIVLINK_DENY_ACTION"})
	want := `env PRIVLINK_DENY_ACTION: deny_action: invalid deny_action "explode" (use drop or reset)`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestEnvOverridesThroughViper(t *testing.T) {
	t.Setenv("PRIVLINK_FLOW_LOGS_PATH", "-")
	v := NewViper(nil, nil)
	ov := OverridesFromViper(v, nil, nil)
	if len(ov) != 1 || ov[0].Key != "flow_logs.path" || ov[0].Value != "-" || ov[0].Source != "env PRIVLINK_FLOW_LOGS_PATH" {
		t.Fatalf("overrides %+v", ov)
	}
}

func TestMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), "testdata/does-not-exist.yaml") {
		t.Fatalf("error %v does not name the file", err)
	}
}

func minimalYAML(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/valid/minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
