package config

import "testing"

func TestDefaultParses(t *testing.T) {
	c := Default()
	if len(c.Warnings) > 0 {
		t.Fatalf("warnings: %v", c.Warnings)
	}
	t.Logf("%+v", c.Services[0].TargetGroups[0])
}
