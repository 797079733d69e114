package main

import (
	"net/http"
	"net/http/pprof"
)

// mountPprof serves Go's profiler (chalk serve -pprof), used to profile the forwarding path under
// chalk-load. Off by default: profiles reveal internals and a CPU profile costs CPU while it runs.
func mountPprof(mux *http.ServeMux) {
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
}
