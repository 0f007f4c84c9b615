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
// Parse also applies AWS's rules for endpoint policies
// (vpc-endpoints-access.html): every statement has a Principal, the policy
// has at most MaxChars characters, and keys holding system-generated
// identifiers (aws:PrincipalAccount, aws:SourceVpc, ...) take neither
// wildcards nor numeric operators. What an account principal means depends
// on the Kind: the root user only for a gateway endpoint, the whole account
// for an interface endpoint.
//
// Parse reports every problem with its place in the document (the
// statement path, and the line when the text has lines). Evaluate decides
// a Request and names the statement that decided; its Result lists every
// statement with the reason it did or did not apply, which is what
// `privlink explain --action` prints. The package does no I/O.
package iampolicy
