// Package gateway is privlink's S3 and DynamoDB gateway endpoints
// (docs/gateway-endpoints.md): an HTTP front on the regional S3 address (s3.listen) that lets a
// client in only
// when its subnet's route table leads to a gateway endpoint and its rules
// allow the way (acl.GatewayPath), and then decides every request with that
// endpoint's policy (acl/iampolicy) as S3 does behind a VPC endpoint
// (AWS's rules for gateway endpoints and endpoint policies):
//
//   - the S3 action and resource ARN come from the method, path, query and
//     headers, path-style and virtual-hosted-style (operation.go);
//   - the principal from the SigV4 (or V2) access key, through
//     config.Principals; an unknown key is anonymous;
//   - the condition keys aws:SourceVpce, aws:SourceVpc, aws:VpcSourceIp,
//     aws:PrincipalAccount and more; aws:SourceIp is never set, as through
//     any VPC endpoint;
//   - a denied request gets S3's 403 AccessDenied XML; an allowed one is
//     forwarded to the backend — the embedded in-memory S3 or an
//     S3-compatible server by URL — unchanged, and the response streamed
//     back.
//
// DynamoDB gateway endpoints take the same way to dynamodb.listen (their
// own listener, path and prefix list): the action is dynamodb:<Operation>
// from X-Amz-Target, the resources the tables the JSON body names (each
// table of a batch or transaction; the strictest decision wins), a denial
// DynamoDB's 400 AccessDeniedException JSON, and allowed requests go to
// the DynamoDB-compatible server at dynamodb.backend (dynamodb*.go).
//
// A client without the route gets no path: deny_action (drop holds the
// connection silent, reset answers with an RST). Connections show in the
// connection table and the flow logs like interface traffic; decisions
// count in privlink_policy_decisions_total{endpoint,decision}. Explain
// answers offline what a request would get and which statement decides.
package gateway
