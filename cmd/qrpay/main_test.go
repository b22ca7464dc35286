package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/qrpay/qrpay/testenv"
)

func TestREADMEListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeOf(Config{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		name := f.Tag.Get("env")
		def := f.Tag.Get("envDefault")
		row := fmt.Sprintf("| `%s` | `%s` |", name, def)
		if def == "" {
			row = fmt.Sprintf("| `%s` | (", name)
		}
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md configuration table lacks %q", row)
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &out); code != 0 {
		t.Fatalf("qrpay help exited %d", code)
	}
	for name := range commands() {
		if !strings.Contains(out.String(), "  "+name+" ") {
			t.Errorf("qrpay help does not list %q:\n%s", name, out.String())
		}
	}
	if code := run(context.Background(), []string{"nope"}, &out, &out); code != 2 {
		t.Errorf("unknown command exited %d; want 2", code)
	}
}

// TestServeLifecycle starts `qrpay serve` in-process, waits for /readyz, then
// cancels it as SIGTERM would: it must exit cleanly and leave no goroutine behind.
func TestServeLifecycle(t *testing.T) {
	// A key prefix of the test's own, whose keys (the nonce store's epoch,
	// say) are deleted when it ends.
	_, prefix := testenv.Redis(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(),
		// fasthttp keeps one process-wide clock goroutine, and its worker
		// pool's janitor notices the stop only after its current 10 s nap.
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	t.Setenv("PORT", fmt.Sprint(port))
	t.Setenv("DATABASE_URL", testenv.Schema(t))
	t.Setenv("REDIS_URL", testenv.RedisURL())
	if addrs := testenv.RedisCluster(); addrs != nil {
		t.Setenv("REDIS_URL", "redis://")
		t.Setenv("REDIS_CLUSTER", strings.Join(addrs, ","))
	}
	t.Setenv("LOG_LEVEL", "warn")
	t.Setenv("SECRET_PEPPER", "test-pepper-0123456789")
	t.Setenv("CARD_TOKEN_KEY", "test-card-key-0123456789")
	t.Setenv("MERCHANT_SECRET_KEY", "test-merchant-key-0123456789")
	t.Setenv("REDIS_PREFIX", prefix)

	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	var stderr bytes.Buffer
	go func() { exit <- run(ctx, []string{"serve"}, &bytes.Buffer{}, &stderr) }()

	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", port)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("/readyz never answered 200: %v; stderr: %s", err, stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("serve exited %d; want 0; stderr: %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancellation")
	}
}
