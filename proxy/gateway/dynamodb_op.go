package gateway

import (
	"encoding/json"
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

// dynamoBody is what the policy needs of a request body.
type dynamoBody struct {
	TableName       string
	TableArn        string
	IndexName       string
	ResourceArn     string
	BackupArn       string
	GlobalTableName string
	RequestItems    map[string]json.RawMessage
	TransactItems   []map[string]struct{ TableName string }
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
	var b dynamoBody
	if err := json.Unmarshal(body, &b); err != nil {
		return Operation{}, &dynamoError{400, "com.amazon.coral.service#SerializationException", "The request body is not valid JSON: " + err.Error()}
	}
	op := Operation{Name: name}
	action := "dynamodb:" + name
	arn := func(table string) string { return TableARN(region, account, table) }
	switch {
	case len(b.RequestItems) > 0: // BatchGetItem, BatchWriteItem
		for _, t := range sortedKeys(b.RequestItems) {
			op.Checks = append(op.Checks, Check{action, arn(t)})
		}
	case len(b.TransactItems) > 0: // TransactWriteItems, TransactGetItems
		for _, item := range b.TransactItems {
			for _, kind := range sortedKeys(item) {
				if a, ok := transactActions[kind]; ok {
					op.Checks = append(op.Checks, Check{a, arn(item[kind].TableName)})
				}
			}
		}
	default:
		op.Checks = []Check{{action, resourceOf(&b, region, account)}}
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
