package iampolicy

import (
	"strings"
	"unicode/utf8"
)

// globMatch reports whether s matches pattern, where * matches any run of
// characters (also none, also across ':' and '/') and ? exactly one.
// Matching is case-sensitive; callers fold case where IAM does.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starPx, starSx := -1, 0 // the last * seen and where its match ends
	for px < len(pattern) || sx < len(s) {
		if px < len(pattern) {
			switch c := pattern[px]; c {
			case '*':
				starPx, starSx = px, sx
				px++
				continue
			case '?':
				if sx < len(s) {
					_, n := utf8.DecodeRuneInString(s[sx:])
					px, sx = px+1, sx+n
					continue
				}
			default:
				if sx < len(s) && s[sx] == c {
					px, sx = px+1, sx+1
					continue
				}
			}
		}
		if starPx < 0 || starSx >= len(s) {
			return false
		}
		// Let the last * take one more character and try again from there.
		_, n := utf8.DecodeRuneInString(s[starSx:])
		starSx += n
		px, sx = starPx+1, starSx
	}
	return true
}

// matchAny reports whether s matches one of the patterns.
func matchAny(patterns []string, s string) bool {
	for _, p := range patterns {
		if globMatch(p, s) {
			return true
		}
	}
	return false
}

// matchAction reports whether an action matches one of the patterns:
// service prefix and action name are case-insensitive in IAM.
func matchAction(patterns []string, action string) bool {
	a := strings.ToLower(action)
	for _, p := range patterns {
		if globMatch(strings.ToLower(p), a) {
			return true
		}
	}
	return false
}

// arnLike matches an ARN against a pattern component by component: each of
// the six colon-separated parts is matched on its own (ArnLike, ArnEquals).
func arnLike(pattern, arn string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	ap := strings.SplitN(arn, ":", 6)
	if len(pp) != 6 || len(ap) != 6 {
		return false
	}
	for i := range pp {
		if !globMatch(pp[i], ap[i]) {
			return false
		}
	}
	return true
}
