#include "tflayout/pass.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "tflayout/status.h"

namespace tflayout {

void PassContext::AddRemark(absl::string_view pass, absl::string_view node,
                            absl::string_view tensor, absl::string_view message) {
  for (const Remark& r : annotation.remarks()) {
    if (r.pass() == pass && r.node() == node && r.tensor() == tensor && r.message() == message) {
      return;  // a re-run must not grow the annotation
    }
  }
  Remark* remark = annotation.add_remarks();
  remark->set_pass(std::string(pass));
  remark->set_node(std::string(node));
  remark->set_tensor(std::string(tensor));
  remark->set_message(std::string(message));
}

PassOptionBase::PassOptionBase(Pass* owner, PassOptionSpec spec) : spec_(std::move(spec)) {
  owner->options_.push_back(this);
}

PassStatistic::PassStatistic(Pass* owner, std::string name, std::string help)
    : name_(std::move(name)), help_(std::move(help)) {
  owner->statistics_.push_back(this);
}

std::string FormatOption(const std::string& value) { return value; }
std::string FormatOption(bool value) { return value ? "true" : "false"; }
std::string FormatOption(int64_t value) { return absl::StrCat(value); }

absl::Status ParseOption(absl::string_view text, std::string& value) {
  value = std::string(text);
  return absl::OkStatus();
}

absl::Status ParseOption(absl::string_view text, bool& value) {
  if (text == "true" || text == "1") {
    value = true;
  } else if (text == "false" || text == "0") {
    value = false;
  } else {
    return absl::InvalidArgumentError("expected true or false");
  }
  return absl::OkStatus();
}

absl::Status ParseOption(absl::string_view text, int64_t& value) {
  if (!absl::SimpleAtoi(text, &value)) return absl::InvalidArgumentError("expected an integer");
  return absl::OkStatus();
}

std::vector<PassOptionSpec> Pass::OptionSpecs() const {
  std::vector<PassOptionSpec> specs;
  for (const PassOptionBase* option : options_) specs.push_back(option->spec());
  return specs;
}

std::string Pass::OptionText(absl::string_view key) const {
  for (const PassOptionBase* option : options_) {
    if (option->spec().name == key) return option->Text();
  }
  return "";
}

absl::Status Pass::SetOption(absl::string_view key, absl::string_view value) {
  for (PassOptionBase* option : options_) {
    const PassOptionSpec& spec = option->spec();
    if (spec.name != key) continue;
    if (!spec.allowed.empty() &&
        std::find(spec.allowed.begin(), spec.allowed.end(), value) == spec.allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pass '", Name(), "': option ", key, "=", value, " is not one of ",
          absl::StrJoin(spec.allowed, "|")));
    }
    absl::Status parsed = option->Parse(value);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("pass '", Name(), "': option ", key, "=",
                                                     value, ": ", parsed.message()));
    }
    return absl::OkStatus();
  }
  std::vector<std::string> known;
  for (const PassOptionBase* option : options_) known.push_back(option->spec().name);
  return absl::InvalidArgumentError(absl::StrCat(
      "pass '", Name(), "' has no option '", key, "'",
      known.empty() ? " (it takes none)" : absl::StrCat(" (options: ", absl::StrJoin(known, ", "), ")")));
}

absl::Status PassRegistry::Register(Factory factory) {
  std::unique_ptr<Pass> probe = factory();
  if (!probe) return absl::InvalidArgumentError("pass factory returned null");
  const std::string name = probe->Name();
  if (name.empty()) return absl::InvalidArgumentError("pass has an empty name");
  if (Contains(name)) {
    return absl::AlreadyExistsError(absl::StrCat("a pass named '", name, "' is already registered"));
  }
  factories_.emplace_back(name, std::move(factory));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Pass>> PassRegistry::Create(absl::string_view name) const {
  for (const auto& [n, factory] : factories_) {
    if (n == name) return factory();
  }
  return absl::NotFoundError(absl::StrCat("unknown pass '", name, "' (known: ",
                                          absl::StrJoin(Names(), ", "), ")"));
}

std::vector<std::string> PassRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& entry : factories_) names.push_back(entry.first);
  return names;
}

bool PassRegistry::Contains(absl::string_view name) const {
  for (const auto& entry : factories_) {
    if (entry.first == name) return true;
  }
  return false;
}

absl::StatusOr<std::vector<std::unique_ptr<Pass>>> ParsePipeline(absl::string_view text,
                                                                 const PassRegistry& registry) {
  std::vector<std::unique_ptr<Pass>> passes;
  size_t pos = 0;
  auto error = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipeline '", text, "': ", what, " at offset ", pos));
  };
  while (pos < text.size()) {
    // Pass name up to '{' or ','.
    size_t end = text.find_first_of("{,", pos);
    if (end == absl::string_view::npos) end = text.size();
    const std::string name(absl::StripAsciiWhitespace(text.substr(pos, end - pos)));
    if (name.empty()) return error("empty pass name");
    auto pass_or = registry.Create(name);
    if (!pass_or.ok()) return pass_or.status();
    std::unique_ptr<Pass> pass = std::move(pass_or).value();
    pos = end;
    if (pos < text.size() && text[pos] == '{') {
      const size_t close = text.find('}', pos);
      if (close == absl::string_view::npos) return error("unclosed '{'");
      for (absl::string_view item : absl::StrSplit(text.substr(pos + 1, close - pos - 1), ',',
                                                   absl::SkipWhitespace())) {
        const size_t eq = item.find('=');
        if (eq == absl::string_view::npos) {
          return error(absl::StrCat("option '", item, "' is not key=value"));
        }
        TFL_RETURN_IF_ERROR(pass->SetOption(absl::StripAsciiWhitespace(item.substr(0, eq)),
                                            absl::StripAsciiWhitespace(item.substr(eq + 1))));
      }
      pos = close + 1;
    }
    while (pos < text.size() && absl::ascii_isspace(text[pos])) ++pos;
    if (pos < text.size()) {
      if (text[pos] != ',') return error("expected ','");
      ++pos;
      if (pos >= text.size()) return error("trailing ','");
    }
    passes.push_back(std::move(pass));
  }
  return passes;
}

}  // namespace tflayout
