package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkHTTPFloor measures what the generator's requests cost with no
// store behind them: this package's client against a net/http server whose
// handler only parses the form and writes a v2-sized answer, both in this
// process, 64 requests in flight (SetParallelism 32 on 2 cores). On a
// machine shared with a cluster, ops/s here bounds what any v2 server
// built on net/http can do for the generator; see the README's Results.
func BenchmarkHTTPFloor(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Etcd-Index", "12345")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"action":"set","node":{"key":"`+r.URL.Path+`","value":"`+r.PostForm.Get("value")+`","modifiedIndex":12345,"createdIndex":12345}}`)
	}))
	defer srv.Close()
	c := newClient(64, 0, Access{})
	defer c.close()
	body := []byte("value=" + strings.Repeat("a", 256))
	var n atomic.Int64
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := srv.URL + "/v2/keys/raftkv-bench/k" + strconv.FormatInt(n.Add(1), 10)
			if class := put(b.Context(), c.ops, u, body); class != "" {
				b.Error(class)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}
