package gateway

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestClassify(t *testing.T) {
	const b, o = "arn:aws:s3:::b", "arn:aws:s3:::b/k/x.txt"
	tests := []struct {
		method, host, target string
		header               []string
		name                 string
		checks               []Check
	}{
		{"GET", "127.0.0.1:9000", "/", nil, "ListBuckets", []Check{{"s3:ListAllMyBuckets", ServiceResource}}},
		{"GET", "s3.us-east-1.amazonaws.com", "/b", nil, "ListObjects", []Check{{"s3:ListBucket", b}}},
		{"GET", "s3.amazonaws.com", "/b/?list-type=2&prefix=k/", nil, "ListObjectsV2", []Check{{"s3:ListBucket", b}}},
		{"HEAD", "x", "/b", nil, "HeadBucket", []Check{{"s3:ListBucket", b}}},
		{"PUT", "x", "/b", nil, "CreateBucket", []Check{{"s3:CreateBucket", b}}},
		{"DELETE", "x", "/b", nil, "DeleteBucket", []Check{{"s3:DeleteBucket", b}}},
		{"GET", "x", "/b?location", nil, "GetBucketLocation", []Check{{"s3:GetBucketLocation", b}}},
		{"GET", "x", "/b?uploads", nil, "ListMultipartUploads", []Check{{"s3:ListBucketMultipartUploads", b}}},
		{"GET", "x", "/b?versions", nil, "ListObjectVersions", []Check{{"s3:ListBucketVersions", b}}},
		{"PUT", "x", "/b?policy", nil, "PutBucketPolicy", []Check{{"s3:PutBucketPolicy", b}}},
		{"DELETE", "x", "/b?tagging", nil, "DeleteBucketTagging", []Check{{"s3:PutBucketTagging", b}}},
		{"POST", "x", "/b?delete", nil, "DeleteObjects", []Check{{"s3:DeleteObject", b}}},
		{"GET", "x", "/b/k/x.txt", nil, "GetObject", []Check{{"s3:GetObject", o}}},
		{"GET", "x", "/b/k/x.txt?versionId=3", nil, "GetObject", []Check{{"s3:GetObjectVersion", o}}},
		{"HEAD", "x", "/b/k/x.txt", nil, "HeadObject", []Check{{"s3:GetObject", o}}},
		{"PUT", "x", "/b/k/x.txt", nil, "PutObject", []Check{{"s3:PutObject", o}}},
		{"DELETE", "x", "/b/k/x.txt", nil, "DeleteObject", []Check{{"s3:DeleteObject", o}}},
		{"DELETE", "x", "/b/k/x.txt?versionId=7", nil, "DeleteObject", []Check{{"s3:DeleteObjectVersion", o}}},
		{"PUT", "x", "/b/k/x.txt", []string{"x-amz-copy-source", "/src/a%20b.txt"}, "CopyObject",
			[]Check{{"s3:PutObject", o}, {"s3:GetObject", "arn:aws:s3:::src/a b.txt"}}},
		{"POST", "x", "/b/k/x.txt?uploads", nil, "CreateMultipartUpload", []Check{{"s3:PutObject", o}}},
		{"PUT", "x", "/b/k/x.txt?partNumber=1&uploadId=u", nil, "UploadPart", []Check{{"s3:PutObject", o}}},
		{"PUT", "x", "/b/k/x.txt?partNumber=2&uploadId=u", []string{"x-amz-copy-source", "src/big?versionId=v1"}, "UploadPartCopy",
			[]Check{{"s3:PutObject", o}, {"s3:GetObjectVersion", "arn:aws:s3:::src/big"}}},
		{"POST", "x", "/b/k/x.txt?uploadId=u", nil, "CompleteMultipartUpload", []Check{{"s3:PutObject", o}}},
		{"DELETE", "x", "/b/k/x.txt?uploadId=u", nil, "AbortMultipartUpload", []Check{{"s3:AbortMultipartUpload", o}}},
		{"GET", "x", "/b/k/x.txt?uploadId=u", nil, "ListParts", []Check{{"s3:ListMultipartUploadParts", o}}},
		{"GET", "x", "/b/k/x.txt?acl", nil, "GetObjectAcl", []Check{{"s3:GetObjectAcl", o}}},
		{"PUT", "x", "/b/k/x.txt?tagging&versionId=2", nil, "PutObjectTagging", []Check{{"s3:PutObjectVersionTagging", o}}},
		{"POST", "x", "/b/k/x.txt?restore", nil, "RestoreObject", []Check{{"s3:RestoreObject", o}}},
		{"GET", "b.s3.us-east-1.amazonaws.com", "/k/x.txt", nil, "GetObject", []Check{{"s3:GetObject", o}}},
		{"GET", "b.s3.amazonaws.com:9000", "/", nil, "ListObjects", []Check{{"s3:ListBucket", b}}},
		{"PUT", "B.S3-us-east-1.amazonaws.com", "/k/x.txt", nil, "PutObject", []Check{{"s3:PutObject", o}}},
		{"GET", "b.s3.eu-west-1.amazonaws.com", "/k", nil, "ListObjects", []Check{{"s3:ListBucket", "arn:aws:s3:::k"}}}, // another region: path-style
		{"POST", "x", "/b/k/x.txt", nil, "", nil},
		{"PUT", "x", "/", nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.host+tt.target, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, "http://"+tt.host+tt.target, nil)
			for i := 0; i+1 < len(tt.header); i += 2 {
				r.Header.Set(tt.header[i], tt.header[i+1])
			}
			op := Classify(r, "us-east-1")
			if op.Name != tt.name || !slices.Equal(op.Checks, tt.checks) {
				t.Fatalf("got %s %v, want %s %v", op.Name, op.Checks, tt.name, tt.checks)
			}
		})
	}
}

func TestAccessKey(t *testing.T) {
	tests := []struct {
		header, query, want string
	}{
		{"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261205/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=ab", "", "AKIAIOSFODNN7EXAMPLE"},
		{"AWS4-HMAC-SHA256 SignedHeaders=host,Credential=AKIAX/1/2/s3/aws4_request,Signature=ab", "", "AKIAX"},
		{"AWS AKIAV2EXAMPLE:c2lnbmF0dXJl", "", "AKIAV2EXAMPLE"},
		{"Bearer token", "", ""},
		{"", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAPRESIGNED%2F20261205%2Fus-east-1%2Fs3%2Faws4_request", "AKIAPRESIGNED"},
		{"", "AWSAccessKeyId=AKIAV2URL&Signature=x&Expires=1", "AKIAV2URL"},
		{"", "", ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "http://x/b/k?"+tt.query, nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		if got := AccessKey(r); got != tt.want {
			t.Errorf("AccessKey(%q, %q) = %q, want %q", tt.header, tt.query, got, tt.want)
		}
	}
}
