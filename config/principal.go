package config

import "strings"

// iamPrefix starts every IAM principal ARN privlink accepts.
const iamPrefix = "arn:aws:iam::"

// PrincipalAllowed reports whether an endpoint created by principal may
// connect to a service that allows the principals in allowed, as AWS
// decides it as AWS does for an endpoint service: "*" allows everyone,
// arn:aws:iam::ACCOUNT:root allows the account and every principal in it
// (its users and roles), user/NAME and role/NAME allow only that principal.
func PrincipalAllowed(allowed []string, principal string) bool {
	root := accountRoot(principal)
	for _, a := range allowed {
		if a == "*" || a == principal || (root != "" && a == root) {
			return true
		}
	}
	return false
}

// accountRoot returns the root principal of the account principal belongs
// to (arn:aws:iam::ACCOUNT:root), or "" when principal is no IAM ARN.
func accountRoot(principal string) string {
	rest, ok := strings.CutPrefix(principal, iamPrefix)
	if !ok {
		return ""
	}
	account, _, ok := strings.Cut(rest, ":")
	if !ok || !accountID.MatchString(account) {
		return ""
	}
	return iamPrefix + account + ":root"
}
