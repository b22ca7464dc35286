package testenv

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections to a real server and can cut or freeze
// them, so a test can make PostgreSQL or Redis unreachable, or make it hang
// as a stopped server does, and bring it back without touching the shared
// server.
type Proxy struct {
	Addr string // where clients connect to reach the first target
	// Via maps each target to where clients connect to reach it.
	Via map[string]string

	lns    []net.Listener
	mu     sync.Mutex
	down   bool
	frozen chan struct{} // closed when not frozen; open while frozen
	sent   int64         // bytes forwarded towards the server
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to each target ("host:port"; the nodes of a
// Redis Cluster, say), each on a random loopback port, all cut and frozen
// together, stopped when the test ends.
func NewProxy(t testing.TB, targets ...string) *Proxy {
	t.Helper()
	thawed := make(chan struct{})
	close(thawed)
	p := &Proxy{Via: map[string]string{}, conns: map[net.Conn]bool{}, frozen: thawed}
	for _, target := range targets {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("proxy: %v", err)
		}
		if p.Addr == "" {
			p.Addr = ln.Addr().String()
		}
		p.Via[target] = ln.Addr().String()
		p.lns = append(p.lns, ln)
		p.wg.Add(1)
		go p.accept(ln, target)
	}
	t.Cleanup(func() {
		for _, ln := range p.lns {
			ln.Close()
		}
		p.Thaw()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Cut closes every open connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
}

// Freeze stops forwarding bytes either way while keeping every connection
// open and accepting new ones: the server seems to hang, as a stopped
// process or a dead network path does, until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.frozen:
		p.frozen = make(chan struct{})
	default: // already frozen
	}
}

// Thaw forwards bytes again after Freeze.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.frozen:
	default:
		close(p.frozen)
	}
}

// Sent is the number of bytes clients have sent towards the server so far,
// forwarded or held by a freeze.
func (p *Proxy) Sent() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sent
}

// Restore lets connections through again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *Proxy) accept(ln net.Listener, target string) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(up, c, true)
		go p.pipe(c, up, false)
	}
}

func (p *Proxy) pipe(dst, src net.Conn, toServer bool) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.frozen
			if toServer {
				p.sent += int64(n)
			}
			p.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}
