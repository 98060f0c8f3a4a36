// C simulation test bench for sha256_batch.
//
//   tb_sha256 VECTORS_FILE [--no-million]  run every check, print a summary, exit 1 on any mismatch
//   tb_sha256 --eval MODE      read hex messages (one per line, empty line = empty message)
//                              on stdin, hash them as ONE batch in MODE (plain|leaf|node),
//                              print one hex digest per line: the Python tests compare this
//                              against hashlib and the sim back end.
//
// Checks: the FIPS 180-4 / NIST example messages with their published digests (embedded),
// the million-'a' message, and the hashlib-generated SHAVS-shaped vectors from
// hls/tb/sha256_vectors.txt (see gen_vectors.py for why they are generated).
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "../sha256.h"

typedef std::vector<uint8_t> Bytes;

static std::string hex(const uint8_t *p, size_t n) {
  static const char *d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

static bool unhex(const std::string &s, Bytes &out) {
  if (s.size() % 2) return false;
  out.clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    unsigned v;
    if (sscanf(s.substr(i, 2).c_str(), "%2x", &v) != 1) return false;
    out.push_back((uint8_t)v);
  }
  return true;
}

static Bytes xorshift_bytes(uint32_t x, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[i] = (uint8_t)(x & 0xffu);
  }
  return out;
}

// Pack messages the way the driver does (back to back, so most start unaligned), run ONE
// batch, return the digests as hex.
static std::vector<std::string> run_batch(const std::vector<Bytes> &msgs, uint32_t mode) {
  size_t total = 0;
  for (size_t i = 0; i < msgs.size(); i++) total += msgs[i].size();
  std::vector<uint32_t> data(total / 4 + 2, 0), table(2 * msgs.size() + 2, 0);
  std::vector<uint32_t> dig(8 * msgs.size() + 8, 0);
  uint8_t *bytes = reinterpret_cast<uint8_t *>(data.data());
  size_t off = 0;
  for (size_t i = 0; i < msgs.size(); i++) {
    if (!msgs[i].empty()) memcpy(bytes + off, msgs[i].data(), msgs[i].size());
    table[2 * i] = (uint32_t)off;
    table[2 * i + 1] = (uint32_t)msgs[i].size();
    off += msgs[i].size();
  }
  uint32_t count = mode == SHA_MODE_NODE ? (uint32_t)(total / 64) : (uint32_t)msgs.size();
  sha256_batch(data.data(), table.data(), dig.data(), count, mode);
  std::vector<std::string> out;
  for (uint32_t i = 0; i < count; i++)
    out.push_back(hex(reinterpret_cast<const uint8_t *>(dig.data()) + 32 * i, 32));
  return out;
}

static int failures = 0, checks = 0;

static void expect(const std::string &what, const std::string &got, const std::string &want) {
  checks++;
  if (got != want) {
    failures++;
    std::cerr << "FAIL " << what << ": got " << got << " want " << want << "\n";
  }
}

static Bytes str(const char *s) { return Bytes(s, s + strlen(s)); }

static int eval_mode(const std::string &name) {
  uint32_t mode = name == "plain" ? SHA_MODE_PLAIN
                  : name == "leaf" ? SHA_MODE_LEAF
                  : name == "node" ? SHA_MODE_NODE
                                   : 99u;
  if (mode == 99u) {
    std::cerr << "unknown mode " << name << " (plain, leaf or node)\n";
    return 2;
  }
  std::vector<Bytes> msgs;
  std::string line;
  while (std::getline(std::cin, line)) {
    Bytes b;
    if (!unhex(line, b)) {
      std::cerr << "line " << msgs.size() + 1 << ": not hex\n";
      return 2;
    }
    if (mode == SHA_MODE_NODE && b.size() != 64) {
      std::cerr << "line " << msgs.size() + 1 << ": node mode needs 64 bytes per line\n";
      return 2;
    }
    msgs.push_back(b);
  }
  std::vector<std::string> d = run_batch(msgs, mode);
  for (size_t i = 0; i < d.size(); i++) std::cout << d[i] << "\n";
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && std::string(argv[1]) == "--eval") return eval_mode(argv[2]);
  const bool million_a = !(argc == 3 && std::string(argv[2]) == "--no-million");
  if (argc != 2 && million_a) {
    std::cerr << "usage: tb_sha256 VECTORS_FILE [--no-million] | tb_sha256 --eval plain|leaf|node\n";
    return 2;
  }
  // FIPS 180-4 examples (NIST CSRC "Examples with intermediate values").
  std::vector<Bytes> fips;
  fips.push_back(str("abc"));
  fips.push_back(str("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"));
  fips.push_back(str("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnop"
                     "qrlmnopqrsmnopqrstnopqrstu"));
  fips.push_back(Bytes());
  const char *fips_want[] = {"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                             "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
                             "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
                             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
  std::vector<std::string> got = run_batch(fips, SHA_MODE_PLAIN);
  for (size_t i = 0; i < fips.size(); i++) expect("fips example " + std::to_string(i), got[i], fips_want[i]);

  if (million_a) {  // skipped in RTL co-simulation, where it takes hours
    std::vector<Bytes> million(1, Bytes(1000000, 'a'));
    expect("one million 'a'", run_batch(million, SHA_MODE_PLAIN)[0],
           "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }

  std::ifstream f(argv[1]);
  if (!f) {
    std::cerr << "cannot read " << argv[1] << "\n";
    return 2;
  }
  std::vector<Bytes> msgs[3];
  std::vector<std::string> want[3], names[3];
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string mode, digest;
    size_t n;
    uint32_t seed;
    if (!(in >> mode >> n >> seed >> digest)) {
      std::cerr << "bad vector line: " << line << "\n";
      return 2;
    }
    int m = mode == "P" ? 0 : mode == "L" ? 1 : 2;
    msgs[m].push_back(xorshift_bytes(seed, n));
    want[m].push_back(digest);
    names[m].push_back(mode + " len " + std::to_string(n));
  }
  int vectors = 0;
  for (uint32_t m = 0; m < 3; m++) {
    std::vector<std::string> d = run_batch(msgs[m], m);
    for (size_t i = 0; i < want[m].size(); i++) expect(names[m][i], d[i], want[m][i]);
    // Each vector again on its own: batch position and alignment must not matter.
    for (size_t i = 0; i < msgs[m].size(); i++)
      expect(names[m][i] + " alone", run_batch(std::vector<Bytes>(1, msgs[m][i]), m)[0], want[m][i]);
    vectors += (int)want[m].size();
  }
  if (vectors < 150) {
    std::cerr << "FAIL: only " << vectors << " vectors read from " << argv[1] << "\n";
    return 1;
  }
  // An empty batch writes nothing.
  uint32_t sentinel[8] = {0xdeadbeefu, 0, 0, 0, 0, 0, 0, 0};
  sha256_batch(sentinel, sentinel, sentinel, 0, SHA_MODE_PLAIN);
  expect("empty batch leaves output alone", std::to_string(sentinel[0]), std::to_string(0xdeadbeefu));

  std::cout << "tb_sha256: " << checks - failures << "/" << checks << " checks passed (" << vectors
            << " file vectors, FIPS examples, million 'a')\n";
  return failures ? 1 : 0;
}
