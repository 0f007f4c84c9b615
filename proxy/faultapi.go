package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/privlink/privlink/config"
)

// faultRoutes adds the fault endpoints of the admin API (docs/faults.md).
func (s *Server) faultRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("GET /v1/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		fi, err := s.Fault(r.PathValue("id"))
		if err != nil {
			apiError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, fi)
	})
	mux.HandleFunc("POST /v1/faults", s.postFault)
	mux.HandleFunc("DELETE /v1/faults/{id}", func(w http.ResponseWriter, r *http.Request) {
		if err := s.RemoveFault(r.PathValue("id")); err != nil {
			apiError(w, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// postFault adds the fault of a strict JSON body: unknown fields and
// invalid values are refused naming the field; 201 answers the fault with
// its ID filled in.
func (s *Server) postFault(w http.ResponseWriter, r *http.Request) {
	f, err := DecodeFault(http.MaxBytesReader(w, r.Body, 1<<16))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	fi, err := s.AddFault(f)
	switch {
	case errors.Is(err, ErrInvalidFault):
		writeError(w, http.StatusBadRequest, "request body: "+strings.TrimPrefix(err.Error(), ErrInvalidFault.Error()+": "))
		return
	case err != nil:
		apiError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/faults/"+fi.ID)
	writeJSON(w, http.StatusCreated, fi)
}

// DecodeFault reads one fault from strict JSON (the body of POST
// /v1/faults): unknown fields, trailing data and wrong types are errors
// naming the field. Toxicity defaults to 1.
func DecodeFault(r io.Reader) (config.Fault, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return config.Fault{}, fmt.Errorf("request body: %w", err)
	}
	f := config.NewFault("")
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, errors.New("request body: " + faultJSONProblem(err, body) + `; want e.g. {"kind":"latency","latency":"200ms","scope":{"service":"vpce-svc-..."}}`)
	}
	if dec.More() {
		return f, errors.New("request body: more than one JSON value")
	}
	return f, nil
}

// faultJSONProblem phrases a decoding error; a value its type refused
// (an unknown kind, a bad duration) is named by its field, found by
// decoding the fields one at a time.
func faultJSONProblem(err error, body []byte) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	if errors.As(err, &syn) || errors.As(err, &typ) || strings.Contains(err.Error(), "unknown field") {
		return jsonProblem(err)
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return err.Error()
	}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		one, _ := json.Marshal(map[string]json.RawMessage{k: fields[k]})
		var f config.Fault
		if e := json.Unmarshal(one, &f); e != nil {
			return fmt.Sprintf("field %q: %v", k, e)
		}
	}
	return err.Error()
}
