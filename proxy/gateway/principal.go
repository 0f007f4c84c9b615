package gateway

import (
	"net/http"
	"strings"
)

// AccessKey returns the access key ID a request is signed with, from the
// SigV4 Authorization header (Credential=AKID/...), a presigned SigV4 URL
// (X-Amz-Credential), the SigV2 header (AWS AKID:sig) or a presigned V2 URL
// (AWSAccessKeyId); "" for an unsigned request. The signature itself is not
// verified: the backend may do that (see docs/gateway-endpoints.md).
func AccessKey(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 "); ok {
			for _, part := range strings.Split(rest, ",") {
				if cred, ok := strings.CutPrefix(strings.TrimSpace(part), "Credential="); ok {
					key, _, _ := strings.Cut(cred, "/")
					return key
				}
			}
			return ""
		}
		if rest, ok := strings.CutPrefix(auth, "AWS "); ok {
			key, _, _ := strings.Cut(rest, ":")
			return key
		}
		return ""
	}
	q := r.URL.Query()
	if cred := q.Get("X-Amz-Credential"); cred != "" {
		key, _, _ := strings.Cut(cred, "/")
		return key
	}
	return q.Get("AWSAccessKeyId")
}

// authType is the s3:authType condition key of a request.
func authType(r *http.Request) string {
	switch {
	case r.Header.Get("Authorization") != "":
		return "REST-HEADER"
	case r.URL.Query().Has("X-Amz-Credential") || r.URL.Query().Has("AWSAccessKeyId"):
		return "REST-QUERY-STRING"
	}
	return ""
}

// signatureVersion is the s3:signatureversion condition key.
func signatureVersion(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	switch {
	case strings.HasPrefix(auth, "AWS4-HMAC-SHA256"), r.URL.Query().Has("X-Amz-Credential"):
		return "AWS4-HMAC-SHA256"
	case strings.HasPrefix(auth, "AWS "), r.URL.Query().Has("AWSAccessKeyId"):
		return "AWS"
	}
	return ""
}

// principalType is the aws:PrincipalType of an IAM or STS ARN.
func principalType(arn string) string {
	switch {
	case strings.HasSuffix(arn, ":root"):
		return "Account"
	case strings.Contains(arn, ":assumed-role/"):
		return "AssumedRole"
	case strings.Contains(arn, ":user/"):
		return "User"
	}
	return "Role"
}
