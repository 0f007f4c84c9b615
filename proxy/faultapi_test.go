package proxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/privlink/privlink/config"
)

// FuzzDecodeFault: the body of POST /v1/faults never panics the decoder;
// a body it accepts and CheckFault passes round-trips through the JSON
// GET /v1/faults answers with (one shape both ways).
func FuzzDecodeFault(f *testing.F) {
	for _, s := range []string{
		`{"id":"slow","kind":"latency","scope":{"service":"vpce-svc-03d5ebb7d9579a2b3"},"direction":"to_client","latency":"200ms","jitter":"20ms","toxicity":1}`,
		`{"kind":"az_outage","scope":{"az":"use1-az1"},"duration":"30s"}`,
		`{"kind":"target_blackhole","scope":{"target":"127.0.10.20:9443","node":"127.0.10.5"}}`,
		`{"kind":"port_budget","budget":3,"scope":{"target_group":"tg"},"start_after":"1s"}`,
		`{"kind":"bandwidth","rate_kbps":"x"}`, `{"kind":`, `[]`, `{"toxicity":-1e400}`,
	} {
		f.Add(s)
	}
	cfg, err := config.Parse("fuzz.yaml", []byte(strings.NewReplacer("P.", "127.101.", "PPV2", "false", "PLACEMENT", "first_data").Replace(labYAML)))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		ft, err := DecodeFault(strings.NewReader(body))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "request body: ") {
				t.Fatalf("error %q does not say where", err)
			}
			return
		}
		if len(config.CheckFault(cfg, &ft)) > 0 {
			return
		}
		out, err := json.Marshal(ft)
		if err != nil {
			t.Fatalf("marshal %+v: %v", ft, err)
		}
		back, err := DecodeFault(strings.NewReader(string(out)))
		if err != nil || back != ft {
			t.Fatalf("round trip of %s: %+v, %v; want %+v", out, back, err, ft)
		}
	})
}
