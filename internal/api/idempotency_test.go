package api

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/appcitas/appcitas/internal/booking"
	"github.com/appcitas/appcitas/internal/pgtest"
)

// commitCutter is a TCP proxy in front of PostgreSQL. Once armed, it forwards the next COMMIT to
// the server, lets the server commit, and closes the connection without passing the answer on:
// the transaction is committed, and its client cannot know it.
type commitCutter struct {
	upstream string
	armed    atomic.Bool
	cut      atomic.Int32
}

// newCommitCutter starts a commitCutter in front of the server of dbURL and returns the URL
// that goes through it.
func newCommitCutter(t *testing.T, dbURL string) (*commitCutter, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	p := &commitCutter{upstream: u.Host}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	u.Host = ln.Addr().String()
	return p, u.String()
}

// serve relays one client connection, reading the client's messages to spot the COMMIT.
func (p *commitCutter) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	closeBoth := sync.OnceFunc(func() { client.Close(); server.Close() })
	var dropping atomic.Bool
	go func() {
		defer closeBoth()
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && !dropping.Load() {
				if _, err := client.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	defer closeBoth()
	r := bufio.NewReader(client)
	// The startup message has no type byte.
	if _, err := p.relay(r, server, false); err != nil {
		return
	}
	for {
		msg, err := p.relay(r, server, true)
		if err != nil {
			return
		}
		if msg[0] == 'Q' && string(bytes.TrimRight(msg[5:], "\x00")) == "COMMIT" && p.armed.CompareAndSwap(true, false) {
			dropping.Store(true)
			if _, err := server.Write(msg); err != nil {
				return
			}
			time.Sleep(300 * time.Millisecond) // the server commits meanwhile
			p.cut.Add(1)
			return
		}
		if _, err := server.Write(msg); err != nil {
			return
		}
	}
}

// relay reads one message from r: typed (a type byte, then its length) or not (the startup
// message). An untyped message is forwarded at once; a typed one is returned for the caller to
// forward.
func (p *commitCutter) relay(r *bufio.Reader, server net.Conn, typed bool) ([]byte, error) {
	var head []byte
	if typed {
		b, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		head = append(head, b)
	}
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(n[:])-4)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	msg := append(append(head, n[:]...), body...)
	if !typed {
		_, err := server.Write(msg)
		return msg, err
	}
	return msg, nil
}

func TestAppointmentIdempotencyKey(t *testing.T) {
	t.Parallel()
	cutter, dbURL := newCommitCutter(t, pgtest.NewDatabase(t))
	b := setupBookingOn(setupOn(t, dbURL, nil))
	key := func(k string) []string { return append(append([]string(nil), b.adminH...), "Idempotency-Key", k) }
	countAt := func(t *testing.T, inicio string) int {
		t.Helper()
		var page booking.AppointmentPage
		b.ok("GET", "/api/citas?desde="+inicio[:10]+"&hasta="+inicio[:10], nil, b.adminH, http.StatusOK, &page)
		n := 0
		want, _ := time.Parse(time.RFC3339, inicio)
		for _, a := range page.Items {
			if a.Start.Equal(want) && a.Status != "cancelada" {
				n++
			}
		}
		return n
	}

	t.Run("ReplaysTheSameRequestWith200AndTheSameAppointment", func(t *testing.T) {
		var first, again booking.Appointment
		b.ok("POST", "/api/citas", b.citaBody("2027-04-05T09:00:00-05:00"), key("k-1"), http.StatusCreated, &first)
		rec := b.ok("POST", "/api/citas", b.citaBody("2027-04-05T09:00:00-05:00"), key("k-1"), http.StatusOK, &again)
		if again.ID != first.ID || rec.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("replay: appointment %d (Idempotent-Replayed %q), want %d", again.ID, rec.Header().Get("Idempotent-Replayed"), first.ID)
		}
		if n := countAt(t, "2027-04-05T09:00:00-05:00"); n != 1 {
			t.Errorf("%d appointments booked, want 1", n)
		}
	})

	t.Run("RejectsTheKeyWithAnotherBody", func(t *testing.T) {
		wantError(t, b.do("POST", "/api/citas", b.citaBody("2027-04-05T11:00:00-05:00"), key("k-1")...),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
	})

	t.Run("RejectsTheKeyFromAnotherMember", func(t *testing.T) {
		h := append(append([]string(nil), b.receptionH...), "Idempotency-Key", "k-1")
		wantError(t, b.do("POST", "/api/citas", b.citaBody("2027-04-05T09:00:00-05:00"), h...),
			http.StatusUnprocessableEntity, "idempotency_key_reused")
	})

	t.Run("RejectsAMalformedKey", func(t *testing.T) {
		e := wantError(t, b.do("POST", "/api/citas", b.citaBody("2027-04-05T11:00:00-05:00"), key("dos palabras")...),
			http.StatusBadRequest, "invalid_input")
		if e.Field != "Idempotency-Key" {
			t.Errorf("field %q, want Idempotency-Key", e.Field)
		}
	})

	t.Run("BooksOnceForConcurrentRetries", func(t *testing.T) {
		const n = 8
		codes, ids := make([]int, n), make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				rec := b.do("POST", "/api/citas", b.citaBody("2027-04-06T09:00:00-05:00"), key("k-concurrent")...)
				var a booking.Appointment
				_ = json.Unmarshal(rec.Body.Bytes(), &a)
				codes[i], ids[i] = rec.Code, a.ID
			})
		}
		wg.Wait()
		created := 0
		for i := range n {
			if codes[i] == http.StatusCreated {
				created++
			}
			if (codes[i] != http.StatusCreated && codes[i] != http.StatusOK) || ids[i] != ids[0] {
				t.Errorf("answer %d: status %d, appointment %d; want 201 or 200 with appointment %d", i, codes[i], ids[i], ids[0])
			}
		}
		if created != 1 {
			t.Errorf("%d answers 201, want 1", created)
		}
	})

	t.Run("AnswersOutcomeUnknownWhenTheCommitsAnswerIsLostAndBooksOnceOnRetry", func(t *testing.T) {
		const inicio = "2027-04-07T09:00:00-05:00"
		cutter.armed.Store(true)
		rec := b.do("POST", "/api/citas", b.citaBody(inicio), key("k-lost")...)
		wantError(t, rec, http.StatusServiceUnavailable, "outcome_unknown")
		if rec.Header().Get("Retry-After") == "" || cutter.cut.Load() != 1 {
			t.Fatalf("Retry-After %q, %d COMMITs cut; want a Retry-After and 1", rec.Header().Get("Retry-After"), cutter.cut.Load())
		}
		var a booking.Appointment
		deadline := time.Now().Add(10 * time.Second)
		for rec = b.do("POST", "/api/citas", b.citaBody(inicio), key("k-lost")...); rec.Code == http.StatusServiceUnavailable && time.Now().Before(deadline); {
			time.Sleep(50 * time.Millisecond)
			rec = b.do("POST", "/api/citas", b.citaBody(inicio), key("k-lost")...)
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &a) != nil || a.ID == 0 {
			t.Fatalf("retry: %d %s; want 200 with the appointment the lost commit booked", rec.Code, rec.Body.String())
		}
		if n := countAt(t, inicio); n != 1 {
			t.Errorf("%d appointments booked, want 1", n)
		}
	})

	t.Run("BooksAgainWithAKeyOlderThan24Hours", func(t *testing.T) {
		b.clock.add(booking.IdempotencyTTL + time.Minute)
		h := append(bearer(b.token(b.admin, 0)), "X-Organization-ID", strconv.FormatInt(b.org.ID, 10), "Idempotency-Key", "k-1")
		if rec := b.do("POST", "/api/citas", b.citaBody("2027-04-08T09:00:00-05:00"), h...); rec.Code != http.StatusCreated {
			t.Errorf("a day-old key with another body: %d %s, want 201", rec.Code, rec.Body.String())
		}
	})
}
