package gateway

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// TestClassifyDynamoDB checks the action and resources of DynamoDB
// requests: one table, an index, batches and transactions (every table),
// table-less operations and the errors DynamoDB answers.
func TestClassifyDynamoDB(t *testing.T) {
	const tbl = "arn:aws:dynamodb:us-east-1:111122223333:table/"
	cases := []struct {
		name, op, body string
		want           []Check
		err            string // __type of the error
	}{
		{"GetItem", "GetItem", `{"TableName":"Music","Key":{"Artist":{"S":"a"}}}`, []Check{{"dynamodb:GetItem", tbl + "Music"}}, ""},
		{"PutItem", "PutItem", `{"TableName":"Music","Item":{}}`, []Check{{"dynamodb:PutItem", tbl + "Music"}}, ""},
		{"Query index", "Query", `{"TableName":"Music","IndexName":"ByAlbum"}`, []Check{{"dynamodb:Query", tbl + "Music/index/ByAlbum"}}, ""},
		{"Scan", "Scan", `{"TableName":"Music"}`, []Check{{"dynamodb:Scan", tbl + "Music"}}, ""},
		{"table ARN", "DescribeTable", `{"TableName":"arn:aws:dynamodb:us-east-1:444455556666:table/X"}`, []Check{{"dynamodb:DescribeTable", "arn:aws:dynamodb:us-east-1:444455556666:table/X"}}, ""},
		{"ListTables", "ListTables", `{}`, []Check{{"dynamodb:ListTables", "*"}}, ""},
		{"DescribeEndpoints", "DescribeEndpoints", `{}`, []Check{{"dynamodb:DescribeEndpoints", "*"}}, ""},
		{"ListTables null body", "ListTables", `null`, []Check{{"dynamodb:ListTables", "*"}}, ""},
		{"TagResource", "TagResource", `{"ResourceArn":"` + tbl + `Music","Tags":[]}`, []Check{{"dynamodb:TagResource", tbl + "Music"}}, ""},
		{"ExportTable", "ExportTableToPointInTime", `{"TableArn":"` + tbl + `Music"}`, []Check{{"dynamodb:ExportTableToPointInTime", tbl + "Music"}}, ""},
		{"DescribeBackup", "DescribeBackup", `{"BackupArn":"` + tbl + `Music/backup/01"}`, []Check{{"dynamodb:DescribeBackup", tbl + "Music/backup/01"}}, ""},
		{"global table", "DescribeGlobalTable", `{"GlobalTableName":"G"}`, []Check{{"dynamodb:DescribeGlobalTable", "arn:aws:dynamodb::111122223333:global-table/G"}}, ""},
		{"BatchGetItem", "BatchGetItem", `{"RequestItems":{"Music":{"Keys":[]},"Books":{"Keys":[]}}}`,
			[]Check{{"dynamodb:BatchGetItem", tbl + "Books"}, {"dynamodb:BatchGetItem", tbl + "Music"}}, ""},
		{"BatchWriteItem", "BatchWriteItem", `{"RequestItems":{"Music":[{"PutRequest":{}}]}}`, []Check{{"dynamodb:BatchWriteItem", tbl + "Music"}}, ""},
		{"TransactWriteItems", "TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"A"}},{"Update":{"TableName":"B"}},{"Delete":{"TableName":"C"}},{"ConditionCheck":{"TableName":"D"}}]}`,
			[]Check{{"dynamodb:PutItem", tbl + "A"}, {"dynamodb:UpdateItem", tbl + "B"}, {"dynamodb:DeleteItem", tbl + "C"}, {"dynamodb:ConditionCheckItem", tbl + "D"}}, ""},
		{"TransactGetItems", "TransactGetItems", `{"TransactItems":[{"Get":{"TableName":"A"}},{"Get":{"TableName":"B"}}]}`,
			[]Check{{"dynamodb:GetItem", tbl + "A"}, {"dynamodb:GetItem", tbl + "B"}}, ""},
		{"malformed JSON", "GetItem", `{"TableName":`, nil, "com.amazon.coral.service#SerializationException"},
		{"wrong type", "GetItem", `{"TableName":7}`, nil, "com.amazon.coral.service#SerializationException"},
		{"lower-case key", "GetItem", `{"TableName":"Music","tablename":"Secrets"}`, []Check{{"dynamodb:GetItem", tbl + "Music"}}, ""},
		{"key twice", "GetItem", `{"TableName":"Music","TableName":"Secrets"}`, nil, "com.amazon.coral.service#SerializationException"},
		{"table twice in a batch", "BatchGetItem", `{"RequestItems":{"Music":{},"Music":{}}}`, nil, "com.amazon.coral.service#SerializationException"},
		{"not an object", "GetItem", `["TableName"]`, nil, "com.amazon.coral.service#SerializationException"},
		{"trailing data", "GetItem", `{"TableName":"Music"}{"TableName":"Secrets"}`, nil, "com.amazon.coral.service#SerializationException"},
		{"PartiQL", "ExecuteStatement", `{"Statement":"SELECT * FROM Music"}`, nil, "com.amazon.coral.validate#ValidationException"},
		{"bad operation name", "Get/Item", `{}`, nil, "com.amazon.coral.service#UnknownOperationException"},
		{"empty operation", "", `{}`, nil, "com.amazon.coral.service#UnknownOperationException"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			op, err := ClassifyDynamoDB(dynamoTargetPrefix+c.op, []byte(c.body), "us-east-1", "111122223333")
			if c.err != "" {
				if err == nil || err.typ != c.err || err.status != http.StatusBadRequest {
					t.Fatalf("error %+v, want %s", err, c.err)
				}
				return
			}
			if err != nil || op.Name != c.op || !slices.Equal(op.Checks, c.want) {
				t.Fatalf("got %+v, %+v\nwant checks %+v", op, err, c.want)
			}
		})
	}
	for _, target := range []string{"", "DynamoDBStreams_20120810.GetRecords", "DynamoDB_20111205.GetItem", "GetItem"} {
		if _, err := ClassifyDynamoDB(target, []byte(`{}`), "us-east-1", "1"); err == nil || !strings.HasSuffix(err.typ, "#UnknownOperationException") {
			t.Errorf("target %q: %+v, want UnknownOperationException", target, err)
		}
	}
}

// TestReadDynamoBody: a body over DynamoDB's 16 MiB is refused with 413,
// whether its Content-Length says so or not; a GET is no DynamoDB call.
func TestReadDynamoBody(t *testing.T) {
	big := strings.NewReader(strings.Repeat("x", maxDynamoDBBody+1))
	r := httptest.NewRequest(http.MethodPost, "/", big)
	r.ContentLength = -1
	if _, err := readDynamoBody(r); err == nil || err.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("chunked 16 MiB + 1: %+v", err)
	}
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	r.ContentLength = maxDynamoDBBody + 1
	if _, err := readDynamoBody(r); err == nil || err.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("Content-Length 16 MiB + 1: %+v", err)
	}
	r = httptest.NewRequest(http.MethodPost, "/", strings.NewReader(strings.Repeat(" ", maxDynamoDBBody)))
	if b, err := readDynamoBody(r); err != nil || len(b) != maxDynamoDBBody {
		t.Fatalf("exactly 16 MiB: %d bytes, %+v", len(b), err)
	}
	if _, err := readDynamoBody(httptest.NewRequest(http.MethodGet, "/", nil)); err == nil || !strings.HasSuffix(err.typ, "#UnknownOperationException") {
		t.Fatalf("GET: %+v", err)
	}
}

// FuzzClassifyDynamoDB: any target and body give either an error or
// checks naming dynamodb: actions, never a panic.
func FuzzClassifyDynamoDB(f *testing.F) {
	f.Add("DynamoDB_20120810.GetItem", `{"TableName":"Music","Key":{}}`)
	f.Add("DynamoDB_20120810.BatchWriteItem", `{"RequestItems":{"A":[],"B":[]}}`)
	f.Add("DynamoDB_20120810.TransactWriteItems", `{"TransactItems":[{"Put":{"TableName":"A"}},{"Nope":{}}]}`)
	f.Add("DynamoDB_20120810.Query", `{"TableName":"T","IndexName":"I"}`)
	f.Add("DynamoDB_20120810.ListTables", `{}`)
	f.Add("x", `[`)
	f.Fuzz(func(t *testing.T, target, body string) {
		op, err := ClassifyDynamoDB(target, []byte(body), "us-east-1", "111122223333")
		if err != nil {
			if err.typ == "" || err.status != http.StatusBadRequest {
				t.Fatalf("error without a type: %+v", err)
			}
			return
		}
		if op.Name == "" || len(op.Checks) == 0 {
			t.Fatalf("no checks: %+v", op)
		}
		for _, c := range op.Checks {
			if !strings.HasPrefix(c.Action, "dynamodb:") || c.Resource == "" {
				t.Fatalf("check %+v", c)
			}
		}
	})
}
