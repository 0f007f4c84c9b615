// Package iampolicy is privlink's IAM policy language: it parses a policy
// document (JSON, or the same document written as YAML) and decides a
// request with IAM's semantics, as an S3 gateway endpoint applies its
// endpoint policy, as AWS evaluates one:
//
//   - an explicit Deny wins, then an Allow, else the request is implicitly
//     denied;
//   - Action/NotAction, Resource/NotResource, Principal/NotPrincipal ("*",
//     {"AWS": ...}), wildcards * and ? (actions case-insensitive, ARNs
//     case-sensitive);
//   - the condition operators String*, Numeric*, Date*, Bool, Binary,
//     IpAddress/NotIpAddress, Arn*, Null, their ...IfExists forms and the
//     ForAnyValue:/ForAllValues: set qualifiers, with IAM's rule for a key
//     the request does not carry (positive operators fail, negated ones
//     hold).
//
// Parse reports every problem with its place in the document (the
// statement path, and the line when the text has lines). Evaluate decides
// a Request and names the statement that decided; its Result lists every
// statement with the reason it did or did not apply, which is what
// `privlink explain --action` prints. The package does no I/O.
package iampolicy
