package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/zap"

	"github.com/privlink/privlink/config"
)

// backend is where allowed requests go: the embedded in-memory S3, or an
// S3-compatible server by URL behind a reverse proxy.
type backend struct {
	url     string         // "" for the embedded backend
	mem     *s3mem.Backend // the embedded backend's storage
	handler http.Handler
}

// setBackend makes the backend match cfg: the embedded one keeps its
// objects across reloads (configured buckets are created when missing).
func (s *Server) setBackend(cfg *config.Config) error {
	old := s.back.Load()
	if cfg.S3.Embedded() {
		b := old
		if b == nil || b.mem == nil {
			mem := s3mem.New()
			b = &backend{mem: mem, handler: gofakes3.New(mem, gofakes3.WithLogger(fakeLog{s.log.Named("s3mem")})).Server()}
		}
		for _, name := range cfg.S3.Buckets {
			if err := b.mem.CreateBucket(name); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
				return fmt.Errorf("%s: s3.buckets: create %s: %w", cfg.Source, name, err)
			}
		}
		s.back.Store(b)
		return nil
	}
	if old != nil && old.url == cfg.S3.Backend {
		return nil
	}
	u, err := url.Parse(cfg.S3.Backend)
	if err != nil {
		return fmt.Errorf("%s: s3.backend: %w", cfg.Source, err)
	}
	s.back.Store(&backend{url: cfg.S3.Backend, handler: s.reverseProxy(u, "s3-backend", func(w http.ResponseWriter, r *http.Request) {
		writeS3Error(w, r, http.StatusServiceUnavailable, "ServiceUnavailable", "The S3 backend "+u.Host+" could not be reached.")
	})})
	return nil
}

// reverseProxy forwards a request to u unchanged: method, path, query,
// headers — the Host header and the SigV4 Authorization included, so a
// backend that verifies signatures verifies the client's own. fail
// answers when the backend cannot be reached.
func (s *Server) reverseProxy(u *url.URL, name string, fail http.HandlerFunc) http.Handler {
	tr := s.opts.Transport
	if tr == nil {
		tr = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second,
			ExpectContinueTimeout: time.Second, DisableCompression: true, ResponseHeaderTimeout: 5 * time.Minute}
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = u.Scheme, u.Host
			pr.Out.Host = pr.In.Host
		},
		Transport: tr,
		ErrorLog:  zap.NewStdLog(s.log.Named(name)),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.log.Warn("backend failed", zap.String("backend", u.String()), zap.Error(err))
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				fail(w, r)
			}
		},
	}
}

// EmbeddedObject reads an object from the embedded backend (tests, tools).
func (s *Server) EmbeddedObject(bucket, key string) ([]byte, error) {
	b := s.back.Load()
	if b == nil || b.mem == nil {
		return nil, errors.New("gateway: the backend is not the embedded one")
	}
	obj, err := b.mem.GetObject(bucket, key, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Contents.Close()
	return io.ReadAll(obj.Contents)
}

// fakeLog sends gofakes3's log lines to zap.
type fakeLog struct{ log *zap.Logger }

func (l fakeLog) Print(level gofakes3.LogLevel, v ...any) {
	msg := fmt.Sprint(v...)
	switch level {
	case gofakes3.LogErr:
		l.log.Warn(msg)
	default:
		l.log.Debug(msg)
	}
}
