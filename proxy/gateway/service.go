package gateway

import (
	"net/netip"
	"strings"

	"github.com/privlink/privlink/acl"
	"github.com/privlink/privlink/config"
)

// service is the AWS service a front serves: each has its own listener,
// compiled path and gateway endpoints.
type service int

const (
	serviceS3 service = iota
	serviceDynamoDB
	numServices
)

// String is the service's name in messages and reports.
func (sv service) String() string {
	if sv == serviceDynamoDB {
		return "DynamoDB"
	}
	return "S3"
}

// listen is the service's address in cfg and whether it is served.
func (sv service) listen(cfg *config.Config) (netip.AddrPort, bool) {
	if sv == serviceDynamoDB {
		return cfg.DynamoDB.Addr(), cfg.DynamoDB.Enabled()
	}
	return cfg.S3.Addr(), cfg.S3.Enabled()
}

// key is the configuration key of the service's address.
func (sv service) key() string {
	if sv == serviceDynamoDB {
		return "dynamodb.listen"
	}
	return "s3.listen"
}

// serviceName is the AWS service name (com.amazonaws.<region>.s3).
func (sv service) serviceName(region string) string {
	if sv == serviceDynamoDB {
		return config.DynamoDBService(region)
	}
	return config.S3Service(region)
}

// path is the service's compiled path (nil when it is not served).
func (sv service) path(ev *acl.Evaluator) *acl.GatewayPath {
	if sv == serviceDynamoDB {
		return ev.DynamoDBGateway()
	}
	return ev.Gateway()
}

// serviceOf is the service of a gateway endpoint.
func serviceOf(e *config.Endpoint) service {
	if e.IsDynamoDB() {
		return serviceDynamoDB
	}
	return serviceS3
}

// serviceOfAction is the service an IAM action (dynamodb:GetItem) is for.
func serviceOfAction(action string) service {
	if strings.HasPrefix(strings.ToLower(action), "dynamodb:") {
		return serviceDynamoDB
	}
	return serviceS3
}
