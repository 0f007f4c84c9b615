// Package dns answers the DNS names of privlink's endpoints as the VPC's
// resolver answers them in AWS (docs/dns.md):
//
//   - every endpoint's regional name
//     vpce-<id>-<8 chars>.<vpce-svc-id>.<region>.vpce.amazonaws.com → the
//     IPs of all its interfaces, and a zonal name per AZ
//     vpce-<id>-<8 chars>-<az-name>.<vpce-svc-id>... → that AZ's interface;
//     AWS service endpoints carry the service label instead of the
//     vpce-svc ID (vpce-<id>-<8>.ssm.us-east-1.vpce.amazonaws.com);
//   - the service's private DNS name (ssm.us-east-1.amazonaws.com,
//     api.example.com) → the endpoint's interface IPs, for an endpoint with
//     private DNS enabled while the VPC's DNS attributes allow it;
//   - AAAA and other types of those names: NODATA; any other name under
//     vpce.amazonaws.com or a private name's zone: NXDOMAIN; everything
//     else is forwarded to the upstream resolver (or REFUSED without one).
//
// Compile turns a configuration into an immutable Zone; a Server answers
// one Zone at a time over UDP and TCP and swaps in a new one on reload.
// The package knows nothing of the data plane: proxy feeds it.
package dns
