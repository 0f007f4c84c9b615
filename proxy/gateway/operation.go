package gateway

import (
	"net/http"
	"net/url"
	"strings"
)

// Operation is an S3 request as an endpoint policy sees it: the S3 API
// operation and every permission it needs.
type Operation struct {
	Name   string // S3 API name: ListBuckets, GetObject, ... ("" when not recognised)
	Bucket string
	Key    string
	Checks []Check
}

// Check is one permission a request needs: an action on a resource ARN.
type Check struct {
	Action   string
	Resource string
}

// ServiceResource is the resource of requests on no bucket
// (s3:ListAllMyBuckets): matched by "*" and "arn:aws:s3:::*".
const ServiceResource = "arn:aws:s3:::*"

// BucketARN and ObjectARN are the resources of bucket and object requests.
func BucketARN(bucket string) string      { return "arn:aws:s3:::" + bucket }
func ObjectARN(bucket, key string) string { return "arn:aws:s3:::" + bucket + "/" + key }

// opAction is an operation's name and the action it needs.
type opAction struct{ name, action string }

// Sub-resources of bucket requests, by method (the query parameter that
// names the operation → operation and action).
var bucketSubs = map[string]map[string]opAction{
	http.MethodGet: {
		"acl": {"GetBucketAcl", "s3:GetBucketAcl"}, "policy": {"GetBucketPolicy", "s3:GetBucketPolicy"},
		"policyStatus": {"GetBucketPolicyStatus", "s3:GetBucketPolicyStatus"},
		"tagging":      {"GetBucketTagging", "s3:GetBucketTagging"}, "versioning": {"GetBucketVersioning", "s3:GetBucketVersioning"},
		"cors": {"GetBucketCors", "s3:GetBucketCORS"}, "lifecycle": {"GetBucketLifecycleConfiguration", "s3:GetLifecycleConfiguration"},
		"website": {"GetBucketWebsite", "s3:GetBucketWebsite"}, "logging": {"GetBucketLogging", "s3:GetBucketLogging"},
		"notification":      {"GetBucketNotificationConfiguration", "s3:GetBucketNotification"},
		"replication":       {"GetBucketReplication", "s3:GetReplicationConfiguration"},
		"encryption":        {"GetBucketEncryption", "s3:GetEncryptionConfiguration"},
		"ownershipControls": {"GetBucketOwnershipControls", "s3:GetBucketOwnershipControls"},
		"publicAccessBlock": {"GetPublicAccessBlock", "s3:GetBucketPublicAccessBlock"},
		"object-lock":       {"GetObjectLockConfiguration", "s3:GetBucketObjectLockConfiguration"},
		"requestPayment":    {"GetBucketRequestPayment", "s3:GetBucketRequestPayment"},
		"accelerate":        {"GetBucketAccelerateConfiguration", "s3:GetAccelerateConfiguration"},
		"location":          {"GetBucketLocation", "s3:GetBucketLocation"},
		"uploads":           {"ListMultipartUploads", "s3:ListBucketMultipartUploads"},
		"versions":          {"ListObjectVersions", "s3:ListBucketVersions"},
	},
	http.MethodPut: {
		"acl": {"PutBucketAcl", "s3:PutBucketAcl"}, "policy": {"PutBucketPolicy", "s3:PutBucketPolicy"},
		"tagging": {"PutBucketTagging", "s3:PutBucketTagging"}, "versioning": {"PutBucketVersioning", "s3:PutBucketVersioning"},
		"cors": {"PutBucketCors", "s3:PutBucketCORS"}, "lifecycle": {"PutBucketLifecycleConfiguration", "s3:PutLifecycleConfiguration"},
		"website": {"PutBucketWebsite", "s3:PutBucketWebsite"}, "logging": {"PutBucketLogging", "s3:PutBucketLogging"},
		"notification":      {"PutBucketNotificationConfiguration", "s3:PutBucketNotification"},
		"replication":       {"PutBucketReplication", "s3:PutReplicationConfiguration"},
		"encryption":        {"PutBucketEncryption", "s3:PutEncryptionConfiguration"},
		"ownershipControls": {"PutBucketOwnershipControls", "s3:PutBucketOwnershipControls"},
		"publicAccessBlock": {"PutPublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
		"object-lock":       {"PutObjectLockConfiguration", "s3:PutBucketObjectLockConfiguration"},
		"requestPayment":    {"PutBucketRequestPayment", "s3:PutBucketRequestPayment"},
		"accelerate":        {"PutBucketAccelerateConfiguration", "s3:PutAccelerateConfiguration"},
	},
	http.MethodDelete: {
		"policy": {"DeleteBucketPolicy", "s3:DeleteBucketPolicy"}, "tagging": {"DeleteBucketTagging", "s3:PutBucketTagging"},
		"cors": {"DeleteBucketCors", "s3:PutBucketCORS"}, "lifecycle": {"DeleteBucketLifecycle", "s3:PutLifecycleConfiguration"},
		"website": {"DeleteBucketWebsite", "s3:DeleteBucketWebsite"}, "replication": {"DeleteBucketReplication", "s3:PutReplicationConfiguration"},
		"encryption":        {"DeleteBucketEncryption", "s3:PutEncryptionConfiguration"},
		"ownershipControls": {"DeleteBucketOwnershipControls", "s3:PutBucketOwnershipControls"},
		"publicAccessBlock": {"DeletePublicAccessBlock", "s3:PutBucketPublicAccessBlock"},
	},
	http.MethodPost: {"delete": {"DeleteObjects", "s3:DeleteObject"}},
}

var bucketBase = map[string]opAction{
	http.MethodGet: {"ListObjects", "s3:ListBucket"}, http.MethodHead: {"HeadBucket", "s3:ListBucket"},
	http.MethodPut: {"CreateBucket", "s3:CreateBucket"}, http.MethodDelete: {"DeleteBucket", "s3:DeleteBucket"},
}

// Sub-resources of object requests, by method.
var objectSubs = map[string]map[string]opAction{
	http.MethodGet: {
		"acl": {"GetObjectAcl", "s3:GetObjectAcl"}, "tagging": {"GetObjectTagging", "s3:GetObjectTagging"},
		"uploadId": {"ListParts", "s3:ListMultipartUploadParts"}, "attributes": {"GetObjectAttributes", "s3:GetObjectAttributes"},
		"retention": {"GetObjectRetention", "s3:GetObjectRetention"}, "legal-hold": {"GetObjectLegalHold", "s3:GetObjectLegalHold"},
		"torrent": {"GetObjectTorrent", "s3:GetObjectTorrent"},
	},
	http.MethodPut: {
		"acl": {"PutObjectAcl", "s3:PutObjectAcl"}, "tagging": {"PutObjectTagging", "s3:PutObjectTagging"},
		"retention": {"PutObjectRetention", "s3:PutObjectRetention"}, "legal-hold": {"PutObjectLegalHold", "s3:PutObjectLegalHold"},
		"uploadId": {"UploadPart", "s3:PutObject"},
	},
	http.MethodPost: {
		"uploads": {"CreateMultipartUpload", "s3:PutObject"}, "uploadId": {"CompleteMultipartUpload", "s3:PutObject"},
		"restore": {"RestoreObject", "s3:RestoreObject"}, "select": {"SelectObjectContent", "s3:GetObject"},
	},
	http.MethodDelete: {
		"uploadId": {"AbortMultipartUpload", "s3:AbortMultipartUpload"}, "tagging": {"DeleteObjectTagging", "s3:DeleteObjectTagging"},
	},
}

var objectBase = map[string]opAction{
	http.MethodGet: {"GetObject", "s3:GetObject"}, http.MethodHead: {"HeadObject", "s3:GetObject"},
	http.MethodPut: {"PutObject", "s3:PutObject"}, http.MethodDelete: {"DeleteObject", "s3:DeleteObject"},
}

// versioned are the actions a versionId turns into their version form.
var versioned = map[string]string{
	"s3:GetObject": "s3:GetObjectVersion", "s3:GetObjectAcl": "s3:GetObjectVersionAcl",
	"s3:GetObjectTagging": "s3:GetObjectVersionTagging", "s3:PutObjectAcl": "s3:PutObjectVersionAcl",
	"s3:PutObjectTagging": "s3:PutObjectVersionTagging", "s3:DeleteObject": "s3:DeleteObjectVersion",
	"s3:DeleteObjectTagging": "s3:DeleteObjectVersionTagging", "s3:GetObjectAttributes": "s3:GetObjectVersionAttributes",
}

// Classify derives the operation of a request (S3's
// "Required permissions for Amazon S3 API operations"). region is the S3
// endpoint's region, for virtual-hosted-style host names.
func Classify(r *http.Request, region string) Operation {
	bucket, key := bucketKey(r, region)
	q := r.URL.Query()
	op := Operation{Bucket: bucket, Key: key}
	switch {
	case bucket == "":
		if r.Method == http.MethodGet {
			op.Name = "ListBuckets"
			op.Checks = []Check{{"s3:ListAllMyBuckets", ServiceResource}}
		}
		return op
	case key == "":
		oa, ok := lookup(bucketSubs[r.Method], q, bucketBase[r.Method])
		if !ok {
			return op
		}
		if oa.name == "ListObjects" && q.Get("list-type") == "2" {
			oa.name = "ListObjectsV2"
		}
		op.Name, op.Checks = oa.name, []Check{{oa.action, BucketARN(bucket)}}
		return op
	}
	oa, ok := lookup(objectSubs[r.Method], q, objectBase[r.Method])
	if !ok {
		return op
	}
	if v, ok := versioned[oa.action]; ok && q.Has("versionId") {
		oa.action = v
	}
	op.Name, op.Checks = oa.name, []Check{{oa.action, ObjectARN(bucket, key)}}
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" && (oa.name == "PutObject" || oa.name == "UploadPart") {
		op.Name = map[string]string{"PutObject": "CopyObject", "UploadPart": "UploadPartCopy"}[oa.name]
		op.Checks = append(op.Checks, copySource(src))
	}
	return op
}

// lookup returns the operation named by a sub-resource of the query, or
// the base operation.
func lookup(subs map[string]opAction, q url.Values, base opAction) (opAction, bool) {
	for sub, oa := range subs {
		if q.Has(sub) {
			return oa, true
		}
	}
	return base, base.name != ""
}

// copySource is the read a copy needs: s3:GetObject (or GetObjectVersion)
// on the x-amz-copy-source object ("bucket/key" or "/bucket/key", URL-encoded,
// "?versionId=" optional).
func copySource(h string) Check {
	path, query, _ := strings.Cut(h, "?")
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	b, k, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	action := "s3:GetObject"
	if strings.HasPrefix(query, "versionId=") {
		action = "s3:GetObjectVersion"
	}
	return Check{action, ObjectARN(b, k)}
}

// bucketKey splits a request into bucket and key: virtual-hosted-style
// (bucket.s3.<region>.amazonaws.com) or path-style (/bucket/key).
func bucketKey(r *http.Request, region string) (bucket, key string) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	if b := hostBucket(r.Host, region); b != "" {
		return b, path
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}

// hostBucket returns the bucket of a virtual-hosted-style host name, or "".
func hostBucket(host, region string) string {
	if h, _, ok := strings.Cut(host, ":"); ok {
		host = h
	}
	host = strings.ToLower(host)
	for _, base := range []string{".s3." + region + ".amazonaws.com", ".s3.amazonaws.com", ".s3-" + region + ".amazonaws.com",
		".s3.dualstack." + region + ".amazonaws.com"} {
		if b, ok := strings.CutSuffix(host, base); ok && b != "" {
			return b
		}
	}
	return ""
}
