// flaky-proxy: a TCP proxy that makes a loopback link behave like a van's 2G/EDGE link, for
// tests with real processes. Each accepted client gets its own upstream connection; bytes are
// forwarded both ways, throttled per direction (token bucket), delayed by a one-way latency, and
// the proxy cuts both sides abruptly (RST) after about N bytes or at random, as a dropped call
// does.
//
// One thread, one poll(2) loop, non-blocking sockets: a slow or dead peer never stalls the others.
// Randomness comes from --seed (per connection: the seed mixed with the connection number), so the
// byte count at which connection k is cut is the same on every run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <list>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;
constexpr size_t kNoCut = std::numeric_limits<size_t>::max();
constexpr size_t kReadChunk = size_t{16} * 1024;
// A direction stops reading its source while this much waits for the destination, so a fast
// sender meets TCP back-pressure instead of filling our memory.
constexpr size_t kMaxQueued = size_t{256} * 1024;

[[noreturn]] void Fail(const std::string& message) {
  std::fprintf(stderr, "flaky-proxy: %s\n", message.c_str());
  std::exit(2);
}

// ---- Config: the command line ----------------------------------------------------------------

sockaddr_in ParseEndpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("expected HOST:PORT, got " + text);
  std::string host = text.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    throw std::invalid_argument("not an IPv4 address: " + host);
  }
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos ||
      std::stoi(port) > 65535) {
    throw std::invalid_argument("bad port in " + text);
  }
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
  return addr;
}

struct Config {
  sockaddr_in listen{};
  sockaddr_in target{};
  double rate_kbit = 0;  // 0: unlimited
  int latency_ms = 0;    // one way, added to every chunk
  uint64_t cut_every_bytes = 0;
  double cut_jitter = 0.2;  // threshold drawn in cut_every * [1 - jitter, 1 + jitter]
  double cut_probability = 0;
  uint64_t seed = 1;
  std::string stats_file;
  bool verbose = false;

  static Config Parse(int argc, char** argv) {
    Config c;
    std::string listen, target;
    CLI::App app{"TCP proxy with throttling, latency and connection cuts, for tests"};
    app.add_option("--listen", listen, "HOST:PORT to accept on (port 0: any free port)")
        ->required();
    app.add_option("--target", target, "HOST:PORT to forward to")->required();
    app.add_option("--rate-kbit", c.rate_kbit, "bandwidth per direction, 0 = unlimited")
        ->check(CLI::NonNegativeNumber);
    app.add_option("--latency-ms", c.latency_ms, "one-way delay")->check(CLI::Range(0, 600000));
    app.add_option("--cut-every-bytes", c.cut_every_bytes, "cut a connection after ~N bytes");
    app.add_option("--cut-jitter", c.cut_jitter, "relative jitter of that N")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--cut-probability", c.cut_probability, "chance of a cut per chunk")
        ->check(CLI::Range(0.0, 1.0));
    app.add_option("--seed", c.seed, "seed for cut positions");
    app.add_option("--stats-file", c.stats_file, "JSON stats written at exit");
    app.add_flag("--verbose", c.verbose, "log connections and cuts on stderr");
    try {
      app.parse(argc, argv);
      c.listen = ParseEndpoint(listen);
      c.target = ParseEndpoint(target);
    } catch (const CLI::CallForHelp&) {
      std::exit(app.exit(CLI::CallForHelp()));
    } catch (const std::exception& e) {
      Fail(e.what());
    }
    return c;
  }
};

struct Stats {
  uint64_t connections = 0;
  uint64_t bytes_client_to_server = 0;
  uint64_t bytes_server_to_client = 0;
  uint64_t cuts = 0;

  std::string Json() const {
    return "{\"connections\":" + std::to_string(connections) +
           ",\"bytes_client_to_server\":" + std::to_string(bytes_client_to_server) +
           ",\"bytes_server_to_client\":" + std::to_string(bytes_server_to_client) +
           ",\"cuts\":" + std::to_string(cuts) + "}";
  }
};

// ---- Throttle: a token bucket, one per direction ---------------------------------------------

class Throttle {
 public:
  explicit Throttle(double rate_kbit)
      : bytes_per_s_(rate_kbit * 1000.0 / 8.0),
        // 100 ms of burst: small enough that a measured second is ~the rate, large enough that
        // a slow link is not read in tiny pieces.
        capacity_(std::max(512.0, bytes_per_s_ / 10.0)),
        tokens_(capacity_) {}

  bool Unlimited() const { return bytes_per_s_ <= 0; }

  size_t Available(Time now) {
    if (Unlimited()) return std::numeric_limits<size_t>::max();
    Refill(now);
    return static_cast<size_t>(tokens_);
  }
  void Consume(size_t bytes) {
    if (!Unlimited()) tokens_ -= static_cast<double>(bytes);
  }
  // Worth a read: waiting for a few hundred bytes avoids waking up for every few bytes.
  size_t MinRead() const { return static_cast<size_t>(std::min(capacity_, 256.0)); }
  Time ReadyAt(Time now) {
    Refill(now);
    const double missing = static_cast<double>(MinRead()) - tokens_;
    if (Unlimited() || missing <= 0) return now;
    return now + std::chrono::duration_cast<Clock::duration>(
                     std::chrono::duration<double>(missing / bytes_per_s_));
  }

 private:
  void Refill(Time now) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(capacity_, tokens_ + elapsed * bytes_per_s_);
    last_ = now;
  }

  double bytes_per_s_;
  double capacity_;
  double tokens_;
  Time last_ = Clock::now();
};

// ---- Connection: a client socket, its upstream socket, and the two directions between ----------

// Bytes read from one side, on their way to the other. `fin` carries the sender's half-close,
// delayed by the latency like data; `cut_at` is where a random cut falls inside this chunk.
struct Chunk {
  std::string data;
  size_t offset = 0;
  Time release;
  bool fin = false;
  size_t cut_at = kNoCut;
};

struct Direction {
  Direction(double rate_kbit, uint64_t* counter) : throttle(rate_kbit), forwarded(counter) {}
  std::deque<Chunk> queue;
  size_t queued = 0;
  bool eof = false;   // the source sent FIN
  bool shut = false;  // the FIN was passed on to the destination
  Throttle throttle;
  uint64_t* forwarded;  // the proxy-wide counter for this direction

  bool CanRead(Time now) {
    return !eof && queued < kMaxQueued && throttle.Available(now) >= throttle.MinRead();
  }
  // The destination has something due now: poll it for POLLOUT.
  bool WantsWrite(Time now) const { return !queue.empty() && queue.front().release <= now; }
};

// Mixes the run's seed with the connection number: connection k's cut point then depends only on
// (seed, k), and seeds 7 and 8 do not give the same cut points shifted by one connection.
std::mt19937_64 SeedFor(uint64_t seed, uint64_t number) {
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32),
                    static_cast<uint32_t>(number), static_cast<uint32_t>(number >> 32)};
  return std::mt19937_64(seq);
}

class Connection {
 public:
  Connection(uint64_t number, int client, int upstream, const Config& config, Stats* stats)
      : number_(number),
        client_(client),
        upstream_(upstream),
        config_(config),
        stats_(stats),
        rng_(SeedFor(config.seed, number)),
        to_server_(config.rate_kbit, &stats->bytes_client_to_server),
        to_client_(config.rate_kbit, &stats->bytes_server_to_client) {
    if (config.cut_every_bytes > 0) {
      std::uniform_real_distribution<double> jitter(-config.cut_jitter, config.cut_jitter);
      const double bytes = static_cast<double>(config.cut_every_bytes) * (1 + jitter(rng_));
      cut_after_ = std::max<uint64_t>(1, static_cast<uint64_t>(std::llround(bytes)));
    }
  }
  ~Connection() { Close(/*reset=*/false); }

  bool Closed() const { return client_ < 0; }

  // What to poll for on each socket (0: nothing; the loop then leaves the socket out).
  short ClientEvents(Time now) {
    if (connecting_) return 0;
    return (to_server_.CanRead(now) ? POLLIN : 0) | (to_client_.WantsWrite(now) ? POLLOUT : 0);
  }
  short UpstreamEvents(Time now) {
    if (connecting_) return POLLOUT;
    return (to_client_.CanRead(now) ? POLLIN : 0) | (to_server_.WantsWrite(now) ? POLLOUT : 0);
  }
  int client_fd() const { return client_; }
  int upstream_fd() const { return upstream_; }

  // Earliest moment something becomes due without any socket event: a chunk's release, or
  // enough tokens to read again.
  std::optional<Time> NextDeadline(Time now) {
    std::optional<Time> next;
    auto consider = [&](Time t) {
      if (t > now && (!next || t < *next)) next = t;
    };
    for (Direction* d : {&to_server_, &to_client_}) {
      if (!d->queue.empty()) consider(d->queue.front().release);
      if (!d->eof && d->queued < kMaxQueued) consider(d->throttle.ReadyAt(now));
    }
    return next;
  }

  // Called on every loop turn, with the events poll reported (possibly none).
  void Service(Time now, short client_events, short upstream_events) {
    if (Closed()) return;
    if (connecting_) {
      if (!(upstream_events & (POLLOUT | POLLERR | POLLHUP))) return;
      int error = 0;
      socklen_t len = sizeof error;
      getsockopt(upstream_, SOL_SOCKET, SO_ERROR, &error, &len);
      if (error != 0) return Abort("upstream connect failed: " + std::string(strerror(error)));
      connecting_ = false;
    }
    constexpr short kReadable = POLLIN | POLLHUP | POLLERR;
    if (client_events & kReadable) Read(to_server_, client_, now);
    if (!Closed() && (upstream_events & kReadable)) Read(to_client_, upstream_, now);
    if (!Closed()) Flush(to_server_, upstream_, now);
    if (!Closed()) Flush(to_client_, client_, now);
    // Both half-closes passed on: an orderly end.
    if (!Closed() && to_server_.shut && to_client_.shut) {
      Log("closed after " + std::to_string(total_) + " bytes");
      Close(/*reset=*/false);
    }
  }

 private:
  void Read(Direction& d, int fd, Time now) {
    const size_t want = std::min({kReadChunk, d.throttle.Available(now), kMaxQueued - d.queued});
    if (d.eof || want == 0) return;
    Chunk chunk;
    chunk.data.resize(want);
    const ssize_t n = recv(fd, chunk.data.data(), want, 0);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      return Abort(std::string("read: ") + strerror(errno));  // a reset travels on as a reset
    }
    chunk.release = now + std::chrono::milliseconds(config_.latency_ms);
    if (n == 0) {
      d.eof = true;
      chunk.fin = true;
      chunk.data.clear();
    } else {
      chunk.data.resize(static_cast<size_t>(n));
      d.throttle.Consume(chunk.data.size());
      d.queued += chunk.data.size();
      if (config_.cut_probability > 0 &&
          std::bernoulli_distribution(config_.cut_probability)(rng_)) {
        chunk.cut_at = std::uniform_int_distribution<size_t>(0, chunk.data.size() - 1)(rng_);
      }
    }
    d.queue.push_back(std::move(chunk));
  }

  // Writes what is due to the destination until it would block, stopping exactly at a cut.
  void Flush(Direction& d, int fd, Time now) {
    while (!d.queue.empty() && d.queue.front().release <= now) {
      Chunk& c = d.queue.front();
      if (c.fin) {
        shutdown(fd, SHUT_WR);
        d.shut = true;
        d.queue.pop_front();
        continue;
      }
      size_t n = c.data.size() - c.offset;
      if (c.cut_at != kNoCut) n = std::min(n, c.cut_at - c.offset);
      if (cut_after_ > 0) n = std::min<uint64_t>(n, cut_after_ - total_);
      if (n == 0) return Cut(c.cut_at != kNoCut && c.offset == c.cut_at ? "at random" : "");
      const ssize_t w = send(fd, c.data.data() + c.offset, n, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        return Abort(std::string("write: ") + strerror(errno));
      }
      c.offset += static_cast<size_t>(w);
      d.queued -= static_cast<size_t>(w);
      total_ += static_cast<uint64_t>(w);
      *d.forwarded += static_cast<uint64_t>(w);
      if (cut_after_ > 0 && total_ >= cut_after_) return Cut("");
      if (c.offset == c.cut_at) return Cut("at random");
      if (c.offset == c.data.size()) d.queue.pop_front();
    }
  }

  void Cut(const std::string& how) {
    ++stats_->cuts;
    Log("cut " + (how.empty() ? "" : how + " ") + "after " + std::to_string(total_) + " bytes");
    Close(/*reset=*/true);
  }
  void Abort(const std::string& why) {
    Log("aborted after " + std::to_string(total_) + " bytes: " + why);
    Close(/*reset=*/true);
  }

  // SO_LINGER {on, 0} makes close() send RST and drop unsent data: what a peer sees when the
  // radio link dies, as opposed to the orderly FIN of a normal close.
  void Close(bool reset) {
    for (int* fd : {&client_, &upstream_}) {
      if (*fd < 0) continue;
      if (reset) {
        const linger hard{1, 0};
        setsockopt(*fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
      }
      close(*fd);
      *fd = -1;
    }
  }

  void Log(const std::string& what) const {
    if (config_.verbose)
      std::fprintf(stderr, "flaky-proxy: conn %llu %s\n", static_cast<unsigned long long>(number_),
                   what.c_str());
  }

  uint64_t number_;
  int client_;
  int upstream_;
  const Config& config_;
  Stats* stats_;
  std::mt19937_64 rng_;
  Direction to_server_;
  Direction to_client_;
  bool connecting_ = true;
  uint64_t cut_after_ = 0;  // 0: no byte-count cut
  uint64_t total_ = 0;      // forwarded, both directions
};

// ---- EventLoop: the listener, the signal pipe, and every connection ----------------------------

int signal_pipe_write = -1;
void OnSignal(int) {
  const char byte = 1;
  (void)!write(signal_pipe_write, &byte, 1);  // the self-pipe wakes poll() without a race
}

class EventLoop {
 public:
  explicit EventLoop(const Config& config) : config_(config) {
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (listener_ < 0 ||
        bind(listener_, reinterpret_cast<const sockaddr*>(&config.listen), sizeof config.listen) ||
        listen(listener_, 128)) {
      Fail("cannot listen on " + ToString(config.listen) + ": " + strerror(errno));
    }
    sockaddr_in bound{};
    socklen_t len = sizeof bound;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&bound), &len);
    std::printf("listening %s\n", ToString(bound).c_str());
    std::fflush(stdout);

    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) Fail(std::string("pipe: ") + strerror(errno));
    signal_read_ = fds[0];
    signal_pipe_write = fds[1];
    struct sigaction sa {};
    sa.sa_handler = OnSignal;  // no SA_RESTART: poll() returns at once
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);  // belt and braces: sends use MSG_NOSIGNAL already
  }

  // Runs until SIGTERM or SIGINT; returns the stats.
  Stats Run() {
    std::vector<pollfd> fds;
    std::vector<Connection*> owners;  // owners[i] for fds[i], from index 2
    for (;;) {
      const Time now = Clock::now();
      fds.assign({{listener_, POLLIN, 0}, {signal_read_, POLLIN, 0}});
      owners.assign(2, nullptr);
      std::optional<Time> deadline;
      for (auto& conn : connections_) {
        // A socket with nothing wanted is left out (fd -1): poll would still report its HUP and
        // spin while the throttle holds reads back.
        const short ce = conn->ClientEvents(now), ue = conn->UpstreamEvents(now);
        fds.push_back({ce ? conn->client_fd() : -1, ce, 0});
        fds.push_back({ue ? conn->upstream_fd() : -1, ue, 0});
        owners.push_back(conn.get());
        owners.push_back(conn.get());
        if (auto t = conn->NextDeadline(now); t && (!deadline || *t < *deadline)) deadline = t;
      }
      int timeout_ms = -1;
      if (deadline) {
        // Rounded up: waking a little late is harmless, waking early spins.
        const auto wait = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now);
        timeout_ms = static_cast<int>(std::max<int64_t>(1, wait.count()));
      }
      if (poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
        Fail(std::string("poll: ") + strerror(errno));
      }
      if (fds[1].revents & POLLIN) break;
      const Time after = Clock::now();
      for (size_t i = 2; i < fds.size(); i += 2) {
        owners[i]->Service(after, fds[i].revents, fds[i + 1].revents);
      }
      connections_.remove_if([](const auto& c) { return c->Closed(); });
      if (fds[0].revents & POLLIN) Accept();
    }
    connections_.clear();
    return stats_;
  }

 private:
  void Accept() {
    for (;;) {
      const int client = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (client < 0) return;  // EAGAIN: all taken (EMFILE and the like: next turn)
      const int upstream = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      const int one = 1;
      setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(upstream, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      ++stats_.connections;
      auto conn =
          std::make_unique<Connection>(stats_.connections, client, upstream, config_, &stats_);
      const int r = connect(upstream, reinterpret_cast<const sockaddr*>(&config_.target),
                            sizeof config_.target);
      if (upstream < 0 || (r != 0 && errno != EINPROGRESS)) {
        const linger hard{1, 0};
        setsockopt(client, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        continue;  // the Connection closes both as it goes out of scope
      }
      connections_.push_back(std::move(conn));
    }
  }

  static std::string ToString(const sockaddr_in& addr) {
    char host[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &addr.sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(addr.sin_port));
  }

  const Config& config_;
  int listener_ = -1;
  int signal_read_ = -1;
  std::list<std::unique_ptr<Connection>> connections_;
  Stats stats_;
};

// Written once at start (so a bad path fails at once, exit 2) and again at exit.
void WriteStats(const std::string& path, const Stats& stats) {
  if (path.empty()) return;
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr || std::fprintf(f, "%s\n", stats.Json().c_str()) < 0 || std::fclose(f) != 0) {
    Fail("cannot write " + path + ": " + strerror(errno));
  }
}

}  // namespace

int main(int argc, char** argv) try {
  const Config config = Config::Parse(argc, argv);
  WriteStats(config.stats_file, Stats{});
  EventLoop loop(config);
  const Stats stats = loop.Run();
  WriteStats(config.stats_file, stats);
  std::fprintf(stderr, "flaky-proxy: stats %s\n", stats.Json().c_str());
  return 0;
} catch (const std::exception& e) {
  Fail(e.what());
}
