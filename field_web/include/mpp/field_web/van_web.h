// The officer's app: `mpp-field serve-ui` serves the van's store to a browser on this laptop
// (127.0.0.1) and, with --lan, to the van's tablet over the van's own Wi-Fi. The pages, their
// script and style are inside the program (field_web/assets); no request leaves the van for them.
//
// Security, in the order a request meets it (THREATS.md rows 24-26, 44):
//  - Host: only the names this server listens on (127.0.0.1:P, localhost:P, the LAN address):
//    a DNS-rebinding page that points its own name at 127.0.0.1 is refused.
//  - Cross-site: a request the browser marks Sec-Fetch-Site cross-site or same-site is refused,
//    and every POST must carry the server's own Origin: any web page the tablet opens can reach
//    the van's server, none can act on it.
//  - Sessions: an HttpOnly, SameSite=Strict cookie whose id the server keeps only hashed; every
//    POST carries the session's CSRF token. A browser on the LAN first pairs with the code the
//    laptop shows (6 digits; a new code after 5 wrong tries and after each pairing).
//  - The store stays locked until the officer gives the passphrase, and locks again after
//    VanWebOptions::idle_lock without a request: the keys leave memory, every session must
//    unlock again.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "mpp/sync/clock.h"
#include "mpp/sync/local_time.h"
#include "mpp/sync/result.h"
#include "mpp/sync/transport.h"

namespace mpp::field_web {

struct VanWebOptions {
  std::string data_dir;  // the van store's directory (mpp-field --data)
  // The laptop's own address: loopback only (127.0.0.1 or ::1). Port 0 picks a free one.
  std::string listen_host = "127.0.0.1";
  int listen_port = 8090;
  // --lan ADDR: also serve the tablet on this address of the van's own Wi-Fi, which must be a
  // private one (10/8, 172.16/12, 192.168/16, fd00::/8); its port is the same as listen's when
  // given as ADDR alone, else ADDR:PORT. Empty: loopback only.
  std::string lan_address;
  int lan_port = 0;  // 0: the loopback port
  // Tests only: lan_address may be a loopback one (127.0.0.2), so the LAN listener, its pairing
  // and its Host names are tested with traffic that never leaves the machine.
  bool lan_on_loopback_for_testing = false;
  // Without a request for this long, the store locks (its keys leave memory).
  std::chrono::milliseconds idle_lock{std::chrono::minutes(10)};
  sync::TimeZone zone;
  // The transport to the server at `url` for an enrolment or a sync; libcurl in the program,
  // the loopback transport in tests.
  std::function<Result<std::unique_ptr<sync::Transport>>(const std::string& url)> transport;
};

// The local web server. Start() binds, Run() serves until Stop() (from any thread, a signal
// handler's thread included).
class VanWebServer {
 public:
  // Opens the store (locked) and binds. kInvalidInput for a LAN address that is not private,
  // kUnavailable when an address is in use or not this machine's, the store's own errors.
  static Result<std::unique_ptr<VanWebServer>> Start(const VanWebOptions& options,
                                                     sync::Clock& clock, sync::Rng& rng,
                                                     std::ostream& log);
  ~VanWebServer();
  VanWebServer(const VanWebServer&) = delete;
  VanWebServer& operator=(const VanWebServer&) = delete;

  int port() const;      // the bound loopback port
  int lan_port() const;  // the bound LAN port, 0 without --lan
  // The code a tablet on the LAN types to pair; it changes after each pairing and after 5
  // wrong tries. The laptop's page shows it too.
  std::string PairingCode() const;

  void Run();
  void Stop();

 private:
  class Impl;
  explicit VanWebServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// True for an address of a private network (RFC 1918, RFC 4193) and for loopback; false for a
// public address, a name, or text that is not an address.
bool IsPrivateAddress(const std::string& address);

}  // namespace mpp::field_web
