package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHello(t *testing.T) {
	rec := httptest.NewRecorder()
	routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/hello?name=ship", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "hello ship") {
		t.Fatalf("got %d %s", rec.Code, rec.Body.String())
	}
}
