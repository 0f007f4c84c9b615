package main

import (
	"net/url"
	"strings"
)

// adminURL checks an --admin value (a URL or host:port) and returns the
// admin API's base URL without a trailing slash.
func adminURL(v string) (string, error) {
	base := strings.TrimRight(v, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", usageErr("--admin: %q is not an http URL or host:port", v)
	}
	return base, nil
}
