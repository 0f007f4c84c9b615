package inspect_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/privlink/privlink/proxy/inspect"
)

// lockedBuffer is a log sink written by the sidecar's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

func TestHeaderIsOneJSONLogLine(t *testing.T) {
	var buf lockedBuffer
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(&buf), zap.InfoLevel))
	srv, err := inspect.New(inspect.Options{Listen: "127.0.0.1:0", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(t.Context()) }()
	sc := &sidecar{Server: srv}
	c := sc.dial(t, "127.0.1.50")
	write(t, c, append(privlinkProxy(), 'x'))
	readN(t, c, 1)
	_ = c.Close()

	var line map[string]any
	for deadline := time.Now().Add(waitLimit); line == nil && time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		for _, l := range buf.lines() {
			if strings.Contains(l, `"msg":"PROXY header"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("%q: %v", l, err)
				}
			}
		}
	}
	tlvs, _ := line["tlvs"].([]any)
	if len(tlvs) != 1 {
		t.Fatalf("line %v", line)
	}
	aws := tlvs[0].(map[string]any)
	for k, want := range map[string]any{
		"version": 2.0, "command": "PROXY", "transport": "TCP4", "health_check": false,
		"source": clientAP.String(), "destination": eniAP.String(), "vpce_id": vpceID,
		"peer": c.LocalAddr().String(),
	} {
		if line[k] != want {
			t.Errorf("%s = %v, want %v", k, line[k], want)
		}
	}
	if aws["type"] != "0xea" || aws["name"] != "aws" || !strings.HasPrefix(aws["value"].(string), "01767063") {
		t.Errorf("TLV %v", aws)
	}
	if _, err := time.Parse(time.RFC3339Nano, line["received"].(string)); err != nil {
		t.Errorf("received %v: %v", line["received"], err)
	}
}
