package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"

	"github.com/privlink/privlink/acl/iampolicy"
)

// deleteRequest is the body of DeleteObjects (POST /bucket?delete).
type deleteRequest struct {
	XMLName xml.Name       `xml:"Delete"`
	Quiet   bool           `xml:"Quiet,omitempty"`
	Objects []deleteObject `xml:"Object"`
}

type deleteObject struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
}

// deleteResult is S3's answer to DeleteObjects.
type deleteResult struct {
	XMLName xml.Name    `xml:"DeleteResult"`
	Xmlns   string      `xml:"xmlns,attr,omitempty"`
	Deleted []rawXML    `xml:"Deleted"`
	Errors  []deleteErr `xml:"Error"`
}

type rawXML struct {
	Inner []byte `xml:",innerxml"`
}

type deleteErr struct {
	Key       string `xml:"Key"`
	VersionID string `xml:"VersionId,omitempty"`
	Code      string `xml:"Code"`
	Message   string `xml:"Message"`
}

// maxDeleteBody bounds a DeleteObjects body (1000 keys of up to 1 KiB).
const maxDeleteBody = 2 << 20

// deleteObjects decides DeleteObjects key by key, as S3 does: each key
// needs s3:DeleteObject (s3:DeleteObjectVersion with a version); denied
// keys come back as AccessDenied errors in the 200 DeleteResult, the
// others are deleted by the backend. When some keys are denied, the body
// forwarded carries only the others (its Content-MD5 recomputed; a backend
// that verifies the payload's SigV4 hash then refuses it, see
// docs/gateway-endpoints.md).
func (s *Server) deleteObjects(w http.ResponseWriter, r *http.Request, snap *snapshot, ep *gwEndpoint, op Operation, principal string, ctx iampolicy.Context) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDeleteBody+1))
	var req deleteRequest
	if err != nil || len(body) > maxDeleteBody || xml.Unmarshal(body, &req) != nil {
		writeS3Error(w, r, http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema")
		return
	}
	var allowed []deleteObject
	var denied []deleteErr
	worst := iampolicy.Allowed
	for _, o := range req.Objects {
		c := Check{"s3:DeleteObject", ObjectARN(op.Bucket, o.Key)}
		if o.VersionID != "" {
			c.Action = "s3:DeleteObjectVersion"
		}
		if _, d, _ := ep.decide(principal, []Check{c}, ctx); d != iampolicy.Allowed {
			denied = append(denied, deleteErr{o.Key, o.VersionID, "AccessDenied", DenyMessage(principal, snap.cfg.AccountID, c, d)})
			if d == iampolicy.ExplicitDeny || worst == iampolicy.Allowed {
				worst = d // the strictest key decides the count
			}
			continue
		}
		allowed = append(allowed, o)
	}
	ep.decisions[worst].Inc()
	if len(denied) == 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.forward(w, r, op)
		return
	}
	res := deleteResult{Xmlns: "http://s3.amazonaws.com/doc/2006-03-01/"}
	if len(allowed) > 0 {
		res = s.deletePartly(r, op, req.Quiet, allowed)
	}
	res.Errors = append(res.Errors, denied...)
	out, _ := xml.Marshal(res)
	id, host := requestIDs()
	w.Header().Set("X-Amz-Request-Id", id)
	w.Header().Set("X-Amz-Id-2", host)
	w.Header().Set("Content-Type", "application/xml")
	w.Write(append([]byte(xml.Header), out...))
}

// deletePartly forwards DeleteObjects for the allowed keys only and
// returns the backend's result.
func (s *Server) deletePartly(r *http.Request, op Operation, quiet bool, keep []deleteObject) deleteResult {
	body, _ := xml.Marshal(deleteRequest{Quiet: quiet, Objects: keep})
	sum := md5.Sum(body)
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r.Header.Set("Content-Md5", base64.StdEncoding.EncodeToString(sum[:]))
	for k := range r.Header {
		if http.CanonicalHeaderKey(k) == "X-Amz-Sdk-Checksum-Algorithm" || len(k) > 15 && http.CanonicalHeaderKey(k)[:15] == "X-Amz-Checksum-" {
			r.Header.Del(k)
		}
	}
	rec := httptest.NewRecorder()
	s.forward(rec, r, op)
	var res deleteResult
	if rec.Code != http.StatusOK || xml.Unmarshal(rec.Body.Bytes(), &res) != nil {
		for _, o := range keep {
			res.Errors = append(res.Errors, deleteErr{o.Key, o.VersionID, "InternalError", "The backend did not delete the object (HTTP " + strconv.Itoa(rec.Code) + ")"})
		}
	}
	res.Xmlns = "http://s3.amazonaws.com/doc/2006-03-01/"
	return res
}
