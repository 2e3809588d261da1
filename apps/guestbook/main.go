// Command guestbook is the web frontend of 09-applications: the Kubernetes guestbook
// (a Redis leader, Redis followers, a stateless frontend) with a real Redis behind it.
//
// It writes entries to the leader and reads them from a follower, as upstream's PHP
// frontend did, and says which pod answered and which Redis served the read, so a
// reader can watch the Services spread the load. After a write it asks the leader to
// wait until its connected replicas have the entry (Redis WAIT), so the page shown
// next, read from any follower, already lists it.
//
// Configuration is the environment: LISTEN (default ":8080"), REDIS_LEADER and
// REDIS_FOLLOWER (host:port), REDIS_PASSWORD, POD_NAME.
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"
)

const (
	listKey    = "guestbook"
	maxEntries = 1000            // the list is trimmed to the newest entries
	maxLength  = 200             // characters per entry
	maxBody    = 4096            // bytes per request body
	budget     = 3 * time.Second // for the Redis calls of one request
)

//go:embed index.html
var pages embed.FS

var index = template.Must(template.ParseFS(pages, "index.html"))

type server struct {
	leader, follower *redis.Client
	pod              string
	stopping         atomic.Bool
}

// readFrom names the Redis that served a read: its address and its role (master or slave).
type readFrom struct {
	Address string `json:"address"`
	Role    string `json:"role"`
}

type listing struct {
	Entries  []string `json:"entries"`
	ServedBy string   `json:"served_by"`
	ReadFrom readFrom `json:"read_from"`
}

type written struct {
	Entry        string `json:"entry"`
	Total        int64  `json:"entries_total"`
	Acknowledged int64  `json:"replicas_acknowledged"`
	Replicas     int64  `json:"replicas_connected"`
	ServedBy     string `json:"served_by"`
}

type failure struct {
	Error    string `json:"error"`
	ServedBy string `json:"served_by"`
}

func main() {
	opts := func(env, fallback string, timeout time.Duration) *redis.Client {
		addr := os.Getenv(env)
		if addr == "" {
			addr = fallback
		}
		// fail fast: a visitor waits for this answer, and a Redis that is away (a Service
		// without endpoints drops the connection attempt) should be named within seconds
		return redis.NewClient(&redis.Options{
			Addr: addr, Password: os.Getenv("REDIS_PASSWORD"), MaxRetries: 1, ContextTimeoutEnabled: true,
			DialTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout,
		})
	}
	pod := os.Getenv("POD_NAME")
	if pod == "" {
		pod, _ = os.Hostname()
	}
	// A follower answers a read of the list in a millisecond; one that does not answer in
	// 500 ms is on a lost node (its endpoint not yet removed), and the read goes to the leader.
	s := &server{leader: opts("REDIS_LEADER", "redis-leader:6379", 2*time.Second),
		follower: opts("REDIS_FOLLOWER", "redis-follower:6379", 500*time.Millisecond), pod: pod}
	listen := os.Getenv("LISTEN")
	if listen == "" {
		listen = ":8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("POST /entries", s.submit)
	mux.HandleFunc("GET /api/entries", s.apiList)
	mux.HandleFunc("POST /api/entries", s.apiWrite)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	srv := &http.Server{Addr: listen, Handler: logged(mux), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, MaxHeaderBytes: 16 << 10}

	// On SIGTERM, first say "not ready" and keep serving for SHUTDOWN_DELAY (5 s): the pod
	// leaves the Service's endpoints, and every node's kube-proxy drops it, only after the
	// kubelet has sent the signal. A server that closed its socket at once would refuse the
	// connections still sent its way meanwhile. Then finish the requests in flight.
	delay := 5 * time.Second
	if d, err := time.ParseDuration(os.Getenv("SHUTDOWN_DELAY")); err == nil {
		delay = d
	}
	stop, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		<-stop.Done()
		s.stopping.Store(true)
		log.Printf("stopping: serving %s more, then closing", delay)
		time.Sleep(delay)
		ctx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("guestbook %s listening on %s (leader %s, follower %s)", pod, listen, s.leader.Options().Addr, s.follower.Options().Addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

func logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		next.ServeHTTP(w, r)
		log.Printf("%s %s %s %.1fms", r.RemoteAddr, r.Method, r.URL.Path, float64(time.Since(start).Microseconds())/1000)
	})
}

// validate returns the entry trimmed, or why it is refused.
func validate(entry string) (string, error) {
	if !utf8.ValidString(entry) {
		return "", errors.New("entry is not UTF-8")
	}
	entry = strings.TrimSpace(entry)
	if entry == "" {
		return "", errors.New("entry is empty")
	}
	if n := utf8.RuneCountInString(entry); n > maxLength {
		return "", fmt.Errorf("entry has %d characters; at most %d", n, maxLength)
	}
	for _, r := range entry {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("entry contains control character %U", r)
		}
	}
	return entry, nil
}

func (s *server) read(ctx context.Context) (listing, error) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	out := listing{ServedBy: s.pod}
	// reads go to a follower; when it does not answer, to the leader (the writes' Redis)
	var errs []error
	for _, c := range []*redis.Client{s.follower, s.leader} {
		entries, err := c.LRange(ctx, listKey, 0, -1).Result()
		if err != nil {
			errs = append(errs, fmt.Errorf("read from %s: %w", c.Options().Addr, err))
			continue
		}
		out.Entries, out.ReadFrom.Address = entries, c.Options().Addr
		if role, err := c.Do(ctx, "ROLE").Slice(); err == nil && len(role) > 0 {
			out.ReadFrom.Role = fmt.Sprint(role[0])
		}
		return out, nil
	}
	out.ReadFrom.Address = s.follower.Options().Addr
	return out, errors.Join(errs...)
}

func (s *server) write(ctx context.Context, entry string) (written, error) {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	out := written{Entry: entry, ServedBy: s.pod}
	pipe := s.leader.TxPipeline()
	total := pipe.RPush(ctx, listKey, entry)
	pipe.LTrim(ctx, listKey, -maxEntries, -1)
	if _, err := pipe.Exec(ctx); err != nil {
		return out, fmt.Errorf("write to %s: %w", s.leader.Options().Addr, err)
	}
	out.Total = min(total.Val(), maxEntries)
	// wait (at most a second) until every connected replica has the write
	if info, err := s.leader.Info(ctx, "replication").Result(); err == nil {
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
				fmt.Sscan(v, &out.Replicas)
			}
		}
	}
	if out.Replicas > 0 {
		if n, err := s.leader.Wait(ctx, int(out.Replicas), time.Second).Result(); err == nil {
			out.Acknowledged = n
		}
	}
	return out, nil
}

func reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (s *server) entryOf(w http.ResponseWriter, r *http.Request) (string, error) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			return "", fmt.Errorf("body is unreadable (at most %d bytes): %v", maxBody, err)
		}
		// json.Unmarshal would replace invalid UTF-8 with U+FFFD; refuse it instead
		if !utf8.Valid(raw) {
			return "", errors.New("entry is not UTF-8")
		}
		var body struct {
			Entry *string `json:"entry"`
		}
		if err := json.Unmarshal(raw, &body); err != nil {
			return "", fmt.Errorf("body is not a JSON object with an \"entry\" string: %v", err)
		}
		if body.Entry == nil {
			return "", errors.New("body has no \"entry\" field")
		}
		return validate(*body.Entry)
	}
	if err := r.ParseForm(); err != nil {
		return "", fmt.Errorf("form is malformed (at most %d bytes): %v", maxBody, err)
	}
	return validate(r.PostForm.Get("entry"))
}

func (s *server) apiList(w http.ResponseWriter, r *http.Request) {
	got, err := s.read(r.Context())
	if err != nil {
		reply(w, http.StatusServiceUnavailable, failure{err.Error(), s.pod})
		return
	}
	reply(w, http.StatusOK, got)
}

func (s *server) apiWrite(w http.ResponseWriter, r *http.Request) {
	entry, err := s.entryOf(w, r)
	if err != nil {
		reply(w, http.StatusBadRequest, failure{err.Error(), s.pod})
		return
	}
	done, err := s.write(r.Context(), entry)
	if err != nil {
		reply(w, http.StatusServiceUnavailable, failure{err.Error(), s.pod})
		return
	}
	reply(w, http.StatusCreated, done)
}

type view struct {
	listing
	Problem string
	Count   int
}

func (s *server) render(w http.ResponseWriter, r *http.Request, status int, problem string) {
	got, err := s.read(r.Context())
	if err != nil && problem == "" {
		problem, status = err.Error(), http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = index.Execute(w, view{listing: got, Problem: problem, Count: len(got.Entries)})
}

func (s *server) page(w http.ResponseWriter, r *http.Request) { s.render(w, r, http.StatusOK, "") }

// submit is the page's form: write, then show the page again (POST, redirect, GET).
func (s *server) submit(w http.ResponseWriter, r *http.Request) {
	entry, err := s.entryOf(w, r)
	if err != nil {
		s.render(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if _, err := s.write(r.Context(), entry); err != nil {
		s.render(w, r, http.StatusServiceUnavailable, err.Error())
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// healthz pings both Redis Services and names the one that does not answer.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) {
	var problems []string
	for name, c := range map[string]*redis.Client{"leader": s.leader, "follower": s.follower} {
		if err := c.Ping(r.Context()).Err(); err != nil {
			problems = append(problems, fmt.Sprintf("%s %s: %v", name, c.Options().Addr, err))
		}
	}
	if len(problems) > 0 {
		http.Error(w, strings.Join(problems, "; "), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz: a frontend that can read serves the page, even while the leader is away.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.stopping.Load() {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	if err := s.follower.Ping(r.Context()).Err(); err != nil {
		http.Error(w, fmt.Sprintf("follower %s: %v", s.follower.Options().Addr, err), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}
