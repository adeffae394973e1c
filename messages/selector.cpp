#include "messages/selector.hpp"

#include <algorithm>

namespace nw {

namespace {

constexpr std::string_view key_names[]
  = {"namespace", "pod", "container", "runtime"};

const std::string& field(const container_info& info, selector_key key) {
  switch (key) {
    case selector_key::namespace_:
      return info.k8s.namespace_;
    case selector_key::pod:
      return info.k8s.pod;
    case selector_key::container:
      return info.name;
    case selector_key::runtime:
      break;
  }
  return info.runtime;
}

bool contains(const std::vector<std::string>& xs, const std::string& x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

bool parse_selector(std::string_view text, selector& out, std::string& error) {
  selector result;
  if (text.size() > max_selector_length) {
    error = "selector longer than " + std::to_string(max_selector_length)
            + " bytes";
    return false;
  }
  if (text.find('\0') != std::string_view::npos) {
    error = "selector contains a NUL byte";
    return false;
  }
  size_t pos = 0;
  while (pos <= text.size()) {
    auto end = text.find(';', pos);
    if (end == std::string_view::npos)
      end = text.size();
    auto clause_text = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (clause_text.empty()) {
      if (end == text.size())
        break;
      continue; // tolerate `a=b;;c=d` and a trailing `;`
    }
    auto eq = clause_text.find('=');
    if (eq == std::string_view::npos) {
      error = "clause '" + std::string{clause_text}
              + "' has no '=' (expected key=value[,value...])";
      return false;
    }
    auto key_text = trim(clause_text.substr(0, eq));
    auto key_it
      = std::find(std::begin(key_names), std::end(key_names), key_text);
    if (key_it == std::end(key_names)) {
      error = "unknown key '" + std::string{key_text}
              + "' (expected namespace, pod, container or runtime)";
      return false;
    }
    selector_clause clause;
    clause.key = static_cast<selector_key>(key_it - std::begin(key_names));
    auto values = clause_text.substr(eq + 1);
    size_t vpos = 0;
    while (vpos <= values.size()) {
      auto vend = values.find(',', vpos);
      if (vend == std::string_view::npos)
        vend = values.size();
      auto value = trim(values.substr(vpos, vend - vpos));
      vpos = vend + 1;
      bool negated = !value.empty() && value.front() == '!';
      if (negated)
        value = trim(value.substr(1));
      if (value.empty()) {
        error = "clause '" + std::string{clause_text} + "' has an empty value";
        return false;
      }
      (negated ? clause.exclude : clause.include).emplace_back(value);
    }
    result.clauses.push_back(std::move(clause));
  }
  out = std::move(result);
  return true;
}

bool matches(const selector& sel, const container_info& info) {
  for (auto& clause : sel.clauses) {
    auto& value = field(info, clause.key);
    if (!clause.include.empty() && !contains(clause.include, value))
      return false;
    if (contains(clause.exclude, value))
      return false;
  }
  return true;
}

std::string to_string(const selector& sel) {
  std::string result;
  for (auto& clause : sel.clauses) {
    if (!result.empty())
      result += ';';
    result += key_names[static_cast<size_t>(clause.key)];
    result += '=';
    bool first = true;
    auto append = [&](const std::string& v, bool negated) {
      if (!first)
        result += ',';
      first = false;
      if (negated)
        result += '!';
      result += v;
    };
    for (auto& v : clause.include)
      append(v, false);
    for (auto& v : clause.exclude)
      append(v, true);
  }
  return result;
}

} // namespace nw
