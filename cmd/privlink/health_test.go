package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeAdmin answers /readyz with readyCode and /healthz with 200, as
// proxy.Server's admin API does while starting or draining.
func fakeAdmin(t *testing.T, readyCode int) (hostPort string) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(readyCode)
		w.Write([]byte(`{"status":"` + http.StatusText(readyCode) + `"}`))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(`{"status":"ok"}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestHealthCommand(t *testing.T) {
	ready, draining := fakeAdmin(t, http.StatusOK), fakeAdmin(t, http.StatusServiceUnavailable)
	port := ready[strings.LastIndexByte(ready, ':'):]
	tests := []struct {
		name       string
		env        map[string]string
		args       []string
		code       int
		wantStdout string
		wantStderr string
	}{
		{"ready", nil, []string{"--admin", ready}, 0, "privlink at " + ready + ": /readyz ok", ""},
		{"ready as URL", nil, []string{"--admin", "http://" + ready + "/"}, 0, "/readyz ok", ""},
		{"draining is not ready", nil, []string{"--admin", draining}, 1, "", "admin API /readyz: 503 Service Unavailable"},
		{"draining is alive", nil, []string{"--admin", draining, "--live"}, 0, "/healthz ok", ""},
		{"unspecified listen address is asked on loopback", nil, []string{"--admin", "0.0.0.0" + port}, 0, "privlink at 127.0.0.1" + port, ""},
		{"default from PRIVLINK_ADMIN_LISTEN", map[string]string{"PRIVLINK_ADMIN_LISTEN": "0.0.0.0" + port}, nil, 0, "/readyz ok", ""},
		{"PRIVLINK_HEALTH_ADMIN", map[string]string{"PRIVLINK_HEALTH_ADMIN": draining}, nil, 1, "", "503"},
		{"flag beats environment", map[string]string{"PRIVLINK_ADMIN_LISTEN": draining}, []string{"--admin", ready}, 0, "/readyz ok", ""},
		{"nothing listening", nil, []string{"--admin", "127.0.0.1:1"}, 1, "", "cannot reach the admin API at 127.0.0.1:1"},
		{"admin off", map[string]string{"PRIVLINK_ADMIN_LISTEN": "off"}, nil, 2, "", "the admin API is off"},
		{"no port", nil, []string{"--admin", "127.0.0.1"}, 2, "", `--admin: "127.0.0.1" is not host:port or an http URL`},
		{"bad scheme", nil, []string{"--admin", "ftp://127.0.0.1:21"}, 2, "", "is not host:port or an http URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, errOut := runCmd(t, append([]string{"health"}, tt.args...)...)
			if code != tt.code || !strings.Contains(out, tt.wantStdout) || !strings.Contains(errOut, tt.wantStderr) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d, stdout ∋ %q, stderr ∋ %q",
					code, out, errOut, tt.code, tt.wantStdout, tt.wantStderr)
			}
		})
	}
}

func TestHealthBaseLoopback(t *testing.T) {
	tests := []struct{ admin, want string }{
		{"127.0.0.1:9480", "http://127.0.0.1:9480"},
		{"0.0.0.0:9480", "http://127.0.0.1:9480"},
		{"[::]:9480", "http://[::1]:9480"},
		{"https://[::]:9480/", "https://[::1]:9480"},
		{"privlink:9480", "http://privlink:9480"},
	}
	for _, tt := range tests {
		got, err := healthBase(tt.admin)
		if err != nil || got != tt.want {
			t.Errorf("healthBase(%q) = %q, %v; want %q", tt.admin, got, err, tt.want)
		}
	}
}
