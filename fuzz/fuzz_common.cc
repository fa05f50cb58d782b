#include "fuzz/fuzz_common.h"

#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tflayout/register_builtin_passes.h"

namespace tflayout::fuzz {
namespace {

std::string MakeBaseDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/tflayout_fuzz_XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  std::string bytes(64 * 1024, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 + 7);
  std::ofstream(tmpl + "/weights.bin", std::ios::binary).write(bytes.data(), bytes.size());
  static std::string to_remove;
  to_remove = tmpl;
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(to_remove, ec);
  });
  return tmpl;
}

}  // namespace

const PassRegistry& BuiltinRegistry() {
  static const PassRegistry* registry = [] {
    auto* r = new PassRegistry();
    Require(RegisterBuiltinPasses(*r).ok(), "register passes");
    return r;
  }();
  return *registry;
}

const std::string& BaseDir() {
  static const std::string dir = MakeBaseDir();
  return dir;
}

void Require(bool condition, const char* what, const std::string& detail) {
  if (condition) return;
  std::fprintf(stderr, "FUZZ INVARIANT VIOLATED: %s\n%s\n", what, detail.c_str());
  std::abort();
}

}  // namespace tflayout::fuzz
