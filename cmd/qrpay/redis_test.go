package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// flakyRedis speaks just enough RESP for a client to connect (HELLO is
// refused, so the client falls back to RESP2; CLIENT and PING are
// answered) and, for every other command, counts it and drops the
// connection without an answer: a server that went away mid-call.
type flakyRedis struct {
	ln       net.Listener
	commands atomic.Int64
	wg       sync.WaitGroup
}

func startFlakyRedis(t *testing.T) *flakyRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyRedis{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() { defer f.wg.Done(); f.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); f.wg.Wait() })
	return f
}

func (f *flakyRedis) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			io.WriteString(c, "-ERR unknown command 'HELLO'\r\n")
		case "CLIENT", "SELECT":
			io.WriteString(c, "+OK\r\n")
		case "PING":
			io.WriteString(c, "+PONG\r\n")
		default:
			f.commands.Add(1)
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, fmt.Errorf("not an array: %q", line)
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || n < 1 {
		return nil, fmt.Errorf("bad array length %q", line)
	}
	args := make([]string, n)
	for i := range args {
		head, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	return args, nil
}

// A Redis call that fails is not sent again by the client: the gateway's
// scripts reserve limits and claim keys, so a resent call whose first
// send was executed would count twice, and a retry loop would hold the
// request past REDIS_TIMEOUT while Redis is away instead of failing it
// fast (503, through the breaker).
func TestRedisCallsAreNotResent(t *testing.T) {
	f := startFlakyRedis(t)
	cfg := Config{RedisURL: "redis://" + f.ln.Addr().String() + "/0", RedisTimeout: 300 * time.Millisecond}
	client, err := openRedis(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Incr(context.Background(), "limits:card:1").Err(); err == nil {
		t.Fatal("a call to a server that dropped the connection succeeded")
	}
	if got := f.commands.Load(); got != 1 {
		t.Fatalf("the server received the call %d times, want once", got)
	}
}

// The cluster client is built with the same rules: no resending, one dial
// attempt per connection.
func TestClusterClientDoesNotResend(t *testing.T) {
	o := clusterOptions(Config{RedisCluster: []string{"127.0.0.1:1"}, RedisTimeout: time.Second}, &redis.Options{})
	if o.MaxRetries != -1 {
		t.Fatalf("MaxRetries = %d, want -1 (none)", o.MaxRetries)
	}
	if o.DialerRetries != 1 {
		t.Fatalf("DialerRetries = %d, want 1", o.DialerRetries)
	}
}
