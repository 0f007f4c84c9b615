package gateway

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// awsCLI runs the AWS CLI (an independent S3 client) against the lab's S3
// endpoint, connecting from src: examples/aws-source-ip's sitecustomize
// binds the CLI's sockets to PRIVLINK_SOURCE_IP before they connect, so
// the S3 front sees the client's own address, as a host in that subnet
// would connect (the AWS CLI has no option to pick a source address).
func (l *lab) awsCLI(aws, src, accessKey string, args ...string) (string, error) {
	l.t.Helper()
	return l.awsCLIAt(aws, l.s3, src, accessKey, args...)
}

// awsCLIAt runs the AWS CLI against the endpoint at addr (ip:port).
func (l *lab) awsCLIAt(aws, addr, src, accessKey string, args ...string) (string, error) {
	l.t.Helper()
	shim, err := filepath.Abs("../../examples/aws-source-ip")
	if err != nil {
		l.t.Fatal(err)
	}
	dir := l.t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--endpoint-url", "http://" + addr, "--cli-connect-timeout", "10", "--cli-read-timeout", "20"}
	cmd := exec.CommandContext(ctx, aws, append(base, args...)...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "PYTHONPATH=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "AWS_ACCESS_KEY_ID="+accessKey, "AWS_SECRET_ACCESS_KEY=dummy-secret-key",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"), "AWS_EC2_METADATA_DISABLED=true",
		"AWS_MAX_ATTEMPTS=1", "AWS_RETRY_MODE=standard", "PYTHONPATH="+shim, "PRIVLINK_SOURCE_IP="+src)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAWSCLI is the classic example end to end with the AWS CLI:
// through the gateway endpoint, `s3 ls` is denied (the policy allows no
// ListBuckets), `s3 cp` to my-bucket succeeds and the object is in the
// backend, `s3 cp` to another bucket is denied, and a client whose subnet
// has no route to the gateway endpoint gets no connection;
// `s3api list-objects-v2` is denied (no s3:ListBucket) and a multipart
// upload is allowed (its parts are s3:PutObject).
func TestAWSCLI(t *testing.T) {
	aws := needAWSCLI(t)
	l := newLab(t, Options{})
	file := filepath.Join(t.TempDir(), "test.txt")
	if err := os.WriteFile(file, []byte("hello through the gateway endpoint\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const key = "AKIAIOSFODNN7EXAMPLE"

	out, err := l.awsCLI(aws, l.app, key, "s3", "ls")
	want := "User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:ListAllMyBuckets because no VPC endpoint policy allows the s3:ListAllMyBuckets action"
	if err == nil || !strings.Contains(out, "An error occurred (AccessDenied) when calling the ListBuckets operation") || !strings.Contains(out, want) {
		t.Fatalf("s3 ls: err %v, output:\n%s\nwant AccessDenied with:\n%s", err, out, want)
	}

	out, err = l.awsCLI(aws, l.app, key, "s3", "cp", file, "s3://my-bucket/test.txt")
	if err != nil || !strings.Contains(out, "upload: ") {
		t.Fatalf("s3 cp to my-bucket: %v\n%s", err, out)
	}
	got, err := l.srv.EmbeddedObject("my-bucket", "test.txt")
	if err != nil || string(got) != "hello through the gateway endpoint\n" {
		t.Fatalf("object in the backend: %q, %v", got, err)
	}

	out, err = l.awsCLI(aws, l.app, key, "s3api", "list-objects-v2", "--bucket", "my-bucket")
	want = `User: arn:aws:iam::111122223333:user/alice is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::my-bucket" because no VPC endpoint policy allows the s3:ListBucket action`
	if err == nil || !strings.Contains(out, "An error occurred (AccessDenied) when calling the ListObjectsV2 operation") || !strings.Contains(out, want) {
		t.Fatalf("s3api list-objects-v2: err %v, output:\n%s\nwant AccessDenied with:\n%s", err, out, want)
	}

	out, err = l.awsCLI(aws, l.app, key, "s3", "cp", file, "s3://other-bucket/test.txt")
	if err == nil || !strings.Contains(out, "(AccessDenied)") || !strings.Contains(out, `on resource: "arn:aws:s3:::other-bucket/test.txt" because no VPC endpoint policy allows the s3:PutObject action`) {
		t.Fatalf("s3 cp to other-bucket: err %v, output:\n%s", err, out)
	}
	if _, err := l.srv.EmbeddedObject("other-bucket", "test.txt"); err == nil {
		t.Fatal("the denied upload reached the backend")
	}

	out, err = l.awsCLI(aws, l.batch, key, "s3", "cp", file, "s3://my-bucket/batch.txt")
	if err == nil || strings.Contains(out, "AccessDenied") || !strings.Contains(strings.ToLower(out), "connect") {
		t.Fatalf("s3 cp from the subnet without a route: err %v, output:\n%s", err, out)
	}
	if _, err := l.srv.EmbeddedObject("my-bucket", "batch.txt"); err == nil {
		t.Fatal("an upload from a subnet without a route reached the backend")
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "allow", vpce); n < 1 {
		t.Fatalf("allow decisions: %v", n)
	}
	multipartUpload(t, l, aws, key)
}

// multipartUpload: `aws s3 cp` of a file above the CLI's 8 MiB
// multipart_threshold goes as CreateMultipartUpload, two UploadParts and
// CompleteMultipartUpload, each authorized as s3:PutObject (as in AWS), so
// the classic policy allows the upload and the object arrives whole.
func multipartUpload(t *testing.T, l *lab, aws, key string) {
	t.Helper()
	data := bytes.Repeat([]byte("0123456789abcdef"), (9<<20)/16+1) // 9 MiB + 16 bytes: parts of 8 MiB and 1 MiB
	file := filepath.Join(t.TempDir(), "big.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	before := counterValue(t, l.reg, "privlink_policy_decisions_total", "allow", vpce)
	out, err := l.awsCLI(aws, l.app, key, "s3", "cp", file, "s3://my-bucket/big.bin")
	if err != nil || !strings.Contains(out, "upload: ") {
		t.Fatalf("multipart s3 cp to my-bucket: %v\n%s", err, out)
	}
	got, err := l.srv.EmbeddedObject("my-bucket", "big.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("multipart object in the backend: %d bytes (want %d), %v", len(got), len(data), err)
	}
	if n := counterValue(t, l.reg, "privlink_policy_decisions_total", "allow", vpce) - before; n != 4 {
		t.Fatalf("the upload made %v allowed requests, want 4 (create, two parts, complete)", n)
	}
}

// needAWSCLI returns the path of the AWS CLI, or skips the test.
func needAWSCLI(t *testing.T) string {
	aws, err := exec.LookPath("aws")
	if err != nil {
		t.Skip("the AWS CLI (aws) is not installed; .ci/run installs it (apt-get install awscli)")
	}
	if out, err := exec.Command(aws, "--version").CombinedOutput(); err != nil {
		t.Skipf("%s does not run (%v: %s); .ci/run installs Debian's awscli", aws, err, out)
	}
	return aws
}
