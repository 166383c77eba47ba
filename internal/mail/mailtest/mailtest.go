// Package mailtest is an in-process SMTP server for tests: it accepts every message and keeps what
// it received, so that a test reads the e-mails a real SMTPMailer sent.
package mailtest

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is an SMTP server on 127.0.0.1 that keeps the DATA of each message it accepts. It stops
// when the test ends.
type Server struct {
	ln     net.Listener
	mu     sync.Mutex
	msgs   []string
	refuse bool
}

// NewServer starts a Server for t.
func NewServer(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

// Addr is the server's host:port, for SMTPConfig.Addr or APPCITAS_SMTP_ADDR.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Refuse makes the server answer DATA with 554 while on is true.
func (s *Server) Refuse(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = on
}

// Messages returns the messages received so far, oldest first: headers, a blank line and the
// body, with CRLF line ends and the dot-stuffing undone.
func (s *Server) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// Wait waits up to d for n messages and returns them; it fails t when fewer arrive.
func (s *Server) Wait(t testing.TB, n int, d time.Duration) []string {
	t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := s.Messages(); len(m) >= n {
			return m
		}
	}
	t.Fatalf("got %d e-mails within %s, want %d", len(s.Messages()), d, n)
	return nil
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	say := func(v string) { _, _ = c.Write([]byte(v + "\r\n")) }
	say("220 mailtest ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 mailtest")
		case strings.HasPrefix(cmd, "DATA"):
			s.mu.Lock()
			refuse := s.refuse
			s.mu.Unlock()
			if refuse {
				say("554 refused")
				continue
			}
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(strings.TrimPrefix(l, "."))
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			say("250 queued")
		case strings.HasPrefix(cmd, "QUIT"):
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}
