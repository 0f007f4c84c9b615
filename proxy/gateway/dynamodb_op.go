package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DynamoDB's JSON protocol (awsJson1_0): POST / with the header
// X-Amz-Target: DynamoDB_20120810.<Operation> and a JSON body naming the
// table(s). An endpoint policy sees the action dynamodb:<Operation> on the
// table's ARN (DynamoDB's "Actions, resources, and condition keys").

// dynamoTargetPrefix is the X-Amz-Target prefix of DynamoDB's API version.
const dynamoTargetPrefix = "DynamoDB_20120810."

// maxDynamoDBBody is DynamoDB's maximum request size (16 MiB).
const maxDynamoDBBody = 16 << 20

// dynamoBody is what the policy needs of a request body. Keys match
// exactly, as DynamoDB's do (encoding/json alone would also take
// "tablename"), and a key given twice is refused: either way the policy
// could judge another table than the backend serves.
type dynamoBody struct {
	TableName, TableArn, IndexName          string
	ResourceArn, BackupArn, GlobalTableName string
	RequestItems                            []string    // BatchGetItem, BatchWriteItem: the tables, sorted
	TransactItems                           [][2]string // TransactWriteItems, TransactGetItems: kind, table
}

// parseDynamoBody reads the keys of a request body the policy needs.
func parseDynamoBody(body []byte) (*dynamoBody, error) {
	top, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	b := &dynamoBody{}
	for key, dst := range map[string]*string{"TableName": &b.TableName, "TableArn": &b.TableArn, "IndexName": &b.IndexName,
		"ResourceArn": &b.ResourceArn, "BackupArn": &b.BackupArn, "GlobalTableName": &b.GlobalTableName} {
		if raw, ok := top[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
		}
	}
	if raw, ok := top["RequestItems"]; ok {
		items, err := decodeObject(raw)
		if err != nil {
			return nil, fmt.Errorf("RequestItems: %w", err)
		}
		b.RequestItems = sortedKeys(items)
	}
	if raw, ok := top["TransactItems"]; ok {
		if b.TransactItems, err = transactItems(raw); err != nil {
			return nil, fmt.Errorf("TransactItems: %w", err)
		}
	}
	return b, nil
}

// transactItems reads [{"Put": {"TableName": ...}}, ...] as kind, table.
func transactItems(raw json.RawMessage) ([][2]string, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, err
	}
	var out [][2]string
	for _, item := range list {
		kinds, err := decodeObject(item)
		if err != nil {
			return nil, err
		}
		for _, kind := range sortedKeys(kinds) {
			fields, err := decodeObject(kinds[kind])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", kind, err)
			}
			var table string
			if raw, ok := fields["TableName"]; ok {
				if err := json.Unmarshal(raw, &table); err != nil {
					return nil, fmt.Errorf("%s.TableName: %w", kind, err)
				}
			}
			out = append(out, [2]string{kind, table})
		}
	}
	return out, nil
}

// decodeObject reads a JSON object's members (null: none), refusing a key
// given twice.
func decodeObject(raw []byte) (map[string]json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	tok, err := d.Token()
	if err != nil || tok == nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("expected an object, got %v", tok)
	}
	m := map[string]json.RawMessage{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		if _, dup := m[key]; dup {
			return nil, fmt.Errorf("key %q is given twice", key)
		}
		m[key] = v
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("data after the object")
	}
	return m, nil
}

// transactActions are the actions of TransactWriteItems' and
// TransactGetItems' items (DynamoDB developer guide, "Using IAM with
// DynamoDB transactions": each item needs its underlying action).
var transactActions = map[string]string{
	"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
	"ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem",
}

// partiQL are the PartiQL operations: their actions (dynamodb:PartiQLSelect,
// ...) depend on the statement, which privlink does not parse.
var partiQL = []string{"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}

// dynamoError is a DynamoDB error answer: status, __type and message.
type dynamoError struct {
	status int
	typ    string
	msg    string
}

// ClassifyDynamoDB derives the operation and the checks of a DynamoDB
// request from its X-Amz-Target and body; region and account make table
// ARNs. A request that is not DynamoDB's gets the error DynamoDB answers.
func ClassifyDynamoDB(target string, body []byte, region, account string) (Operation, *dynamoError) {
	name, ok := strings.CutPrefix(target, dynamoTargetPrefix)
	if !ok || !isOperationName(name) {
		return Operation{}, &dynamoError{400, "com.amazon.coral.service#UnknownOperationException", ""}
	}
	if slices.Contains(partiQL, name) {
		return Operation{}, &dynamoError{400, "com.amazon.coral.validate#ValidationException",
			"privlink does not emulate endpoint policies for PartiQL (" + name + "); use the item operations (GetItem, PutItem, ...)"}
	}
	b, err := parseDynamoBody(body)
	if err != nil {
		return Operation{}, &dynamoError{400, "com.amazon.coral.service#SerializationException", "The request body is not valid: " + err.Error()}
	}
	op := Operation{Name: name}
	action := "dynamodb:" + name
	arn := func(table string) string { return TableARN(region, account, table) }
	switch {
	case len(b.RequestItems) > 0: // BatchGetItem, BatchWriteItem
		for _, t := range b.RequestItems {
			op.Checks = append(op.Checks, Check{action, arn(t)})
		}
	case len(b.TransactItems) > 0: // TransactWriteItems, TransactGetItems
		for _, item := range b.TransactItems {
			if a, ok := transactActions[item[0]]; ok {
				op.Checks = append(op.Checks, Check{a, arn(item[1])})
			}
		}
	default:
		op.Checks = []Check{{action, resourceOf(b, region, account)}}
	}
	if len(op.Checks) == 0 {
		op.Checks = []Check{{action, "*"}}
	}
	return op, nil
}

// resourceOf is the resource of a single-resource request: the table (or
// its index), else the ARN the request names, else *.
func resourceOf(b *dynamoBody, region, account string) string {
	switch {
	case b.TableName != "" && b.IndexName != "":
		return TableARN(region, account, b.TableName) + "/index/" + b.IndexName
	case b.TableName != "":
		return TableARN(region, account, b.TableName)
	case b.TableArn != "":
		return b.TableArn
	case b.ResourceArn != "":
		return b.ResourceArn
	case b.BackupArn != "":
		return b.BackupArn
	case b.GlobalTableName != "":
		return "arn:aws:dynamodb::" + account + ":global-table/" + b.GlobalTableName
	}
	return "*"
}

// TableARN is the ARN of a DynamoDB table; a table given as an ARN (the
// API accepts one in TableName) is kept.
func TableARN(region, account, table string) string {
	if strings.HasPrefix(table, "arn:") {
		return table
	}
	return "arn:aws:dynamodb:" + region + ":" + account + ":table/" + table
}

func isOperationName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
