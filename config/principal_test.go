package config

import (
	"strings"
	"testing"
)

// TestPrincipalAllowed checks AWS's semantics for an endpoint
// service's allowed principals: an account's root allows every principal of the account;
// user/NAME and role/NAME allow only that principal; * allows all.
func TestPrincipalAllowed(t *testing.T) {
	const (
		root  = "arn:aws:iam::444455556666:root"
		alice = "arn:aws:iam::444455556666:user/alice"
		bob   = "arn:aws:iam::444455556666:user/bob"
		role  = "arn:aws:iam::444455556666:role/deploy"
		other = "arn:aws:iam::111122223333:user/alice"
	)
	tests := []struct {
		name      string
		allowed   []string
		principal string
		want      bool
	}{
		{"star allows anyone", []string{"*"}, other, true},
		{"root allows the root", []string{root}, root, true},
		{"root allows a user of the account", []string{root}, alice, true},
		{"root allows a role of the account", []string{root}, role, true},
		{"root of another account", []string{root}, other, false},
		{"user allows that user", []string{alice}, alice, true},
		{"user does not allow another user", []string{alice}, bob, false},
		{"user does not allow the account root", []string{alice}, root, false},
		{"user does not allow a role", []string{alice}, role, false},
		{"role allows that role", []string{role}, role, true},
		{"same name in another account", []string{alice}, other, false},
		{"second entry matches", []string{bob, root}, alice, true},
		{"none allowed", nil, alice, false},
		{"account id alone is not a principal prefix", []string{"arn:aws:iam::444455556666:"}, alice, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := PrincipalAllowed(tc.allowed, tc.principal); got != tc.want {
				t.Errorf("PrincipalAllowed(%q, %q) = %v, want %v", tc.allowed, tc.principal, got, tc.want)
			}
		})
	}
}

// A user of an allowed account is allowed: validate does not warn.
func TestPrincipalOfAllowedAccountIsNoWarning(t *testing.T) {
	y := strings.Replace(minimalYAML(t), "  - id: vpce-svc-0123456789abcdef0\n",
		"  - id: vpce-svc-0123456789abcdef0\n    allowed_principals: [\"arn:aws:iam::444455556666:root\"]\n", 1)
	y = strings.Replace(y, "    service: vpce-svc-0123456789abcdef0\n",
		"    service: vpce-svc-0123456789abcdef0\n    principal: arn:aws:iam::444455556666:user/alice\n", 1)
	c, err := Parse("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	if c.Endpoints[0].Principal != "arn:aws:iam::444455556666:user/alice" {
		t.Fatalf("edit did not apply:\n%s", y)
	}
	if len(c.Warnings) != 0 {
		t.Fatalf("warnings %v, want none", c.Warnings)
	}
}
