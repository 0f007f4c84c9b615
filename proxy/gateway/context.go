package gateway

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/privlink/privlink/acl/iampolicy"
)

// headerKeys are the request headers S3 offers as s3: condition keys.
var headerKeys = []string{"x-amz-acl", "x-amz-copy-source", "x-amz-server-side-encryption",
	"x-amz-server-side-encryption-aws-kms-key-id", "x-amz-storage-class", "x-amz-metadata-directive",
	"x-amz-object-lock-mode", "x-amz-object-lock-retain-until-date", "x-amz-object-lock-legal-hold",
	"x-amz-grant-read", "x-amz-grant-write", "x-amz-grant-full-control", "x-amz-content-sha256"}

// requestContext is what the condition keys of a request through the
// gateway endpoint ep hold, as in AWS: aws:SourceVpce, aws:SourceVpc,
// aws:VpcSourceIp (the client's private IP) — and never aws:SourceIp,
// which is absent for requests through a VPC endpoint.
func requestContext(r *http.Request, ep *gwEndpoint, client netip.Addr, principal, region string, now time.Time) iampolicy.Context {
	c := baseContext(ep, client, principal, region, now)
	if ua := r.Header.Get("User-Agent"); ua != "" {
		c.Set("aws:UserAgent", ua)
	}
	if ref := r.Header.Get("Referer"); ref != "" {
		c.Set("aws:Referer", ref)
	}
	q := r.URL.Query()
	for _, k := range []string{"prefix", "delimiter", "max-keys"} {
		if q.Has(k) {
			c.Set("s3:"+k, q.Get(k))
		}
	}
	if q.Has("versionId") {
		c.Set("s3:VersionId", q.Get("versionId"))
	}
	for _, h := range headerKeys {
		if v := r.Header.Get(h); v != "" {
			c.Set("s3:"+h, v)
		}
	}
	if v := authType(r); v != "" {
		c.Set("s3:authType", v)
		c.Set("s3:signatureversion", signatureVersion(r))
	}
	return c
}

// baseContext is the keys of every request through ep from client (an
// invalid client leaves aws:VpcSourceIp out) by principal ("" anonymous).
func baseContext(ep *gwEndpoint, client netip.Addr, principal, region string, now time.Time) iampolicy.Context {
	c := iampolicy.Context{}
	c.Set("aws:SourceVpce", ep.id)
	c.Set("aws:SourceVpc", ep.vpc)
	if client.IsValid() {
		c.Set("aws:VpcSourceIp", client.Unmap().String())
	}
	c.Set("aws:SecureTransport", "false")
	c.Set("aws:CurrentTime", now.UTC().Format(time.RFC3339))
	c.Set("aws:EpochTime", strconv.FormatInt(now.Unix(), 10))
	c.Set("aws:RequestedRegion", region)
	principalKeys(c, principal)
	return c
}

// principalKeys sets the keys of a signed request's principal.
func principalKeys(c iampolicy.Context, principal string) {
	if principal == "" {
		return
	}
	c.Set("aws:PrincipalArn", principal)
	c.Set("aws:PrincipalAccount", iampolicy.AccountOf(principal))
	c.Set("aws:PrincipalType", principalType(principal))
	if _, name, ok := strings.Cut(principal, ":user/"); ok {
		c.Set("aws:username", name[strings.LastIndex(name, "/")+1:])
	}
}
