// A small JSON reader for the native check tool (config.json, the golden inputs, safetensors
// headers): objects, arrays, strings (with \u escapes of the BMP), numbers, true/false/null.
// The npm build never uses it; TypeScript reads JSON there.
#pragma once
#include <cstdlib>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tools {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::map<std::string, Json> obj;

  bool has(const std::string& k) const { return kind == Object && obj.count(k); }
  const Json& operator[](const std::string& k) const {
    auto it = obj.find(k);
    if (kind != Object || it == obj.end()) throw std::runtime_error("JSON: no field '" + k + "'");
    return it->second;
  }
  const Json& operator[](size_t i) const {
    if (kind != Array || i >= arr.size()) throw std::runtime_error("JSON: index out of range");
    return arr[i];
  }
  double number() const {
    if (kind != Number) throw std::runtime_error("JSON: not a number");
    return num;
  }

  static Json parse(const std::string& text) {
    size_t i = 0;
    Json v = value(text, i);
    skip(text, i);
    if (i != text.size()) throw std::runtime_error("JSON: trailing characters");
    return v;
  }

 private:
  static void skip(const std::string& s, size_t& i) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
  }
  static void expect(const std::string& s, size_t& i, char c) {
    skip(s, i);
    if (i >= s.size() || s[i] != c) throw std::runtime_error(std::string("JSON: expected '") + c + "'");
    i++;
  }
  static std::string string(const std::string& s, size_t& i) {
    expect(s, i, '"');
    std::string out;
    while (i < s.size() && s[i] != '"') {
      char c = s[i++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= s.size()) break;
      c = s[i++];
      switch (c) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'u': {
          const unsigned cp = (unsigned)std::stoul(s.substr(i, 4), nullptr, 16);
          i += 4;
          if (cp < 0x80) out += (char)cp;
          else if (cp < 0x800) out += (char)(0xC0 | (cp >> 6)), out += (char)(0x80 | (cp & 0x3F));
          else out += (char)(0xE0 | (cp >> 12)), out += (char)(0x80 | ((cp >> 6) & 0x3F)), out += (char)(0x80 | (cp & 0x3F));
          break;
        }
        default: out += c;
      }
    }
    if (i >= s.size()) throw std::runtime_error("JSON: unterminated string");
    i++;
    return out;
  }
  static Json value(const std::string& s, size_t& i) {
    skip(s, i);
    if (i >= s.size()) throw std::runtime_error("JSON: unexpected end");
    Json v;
    const char c = s[i];
    if (c == '{') {
      v.kind = Object;
      i++;
      skip(s, i);
      if (s[i] == '}') return i++, v;
      for (;;) {
        std::string k = string(s, i);
        expect(s, i, ':');
        v.obj[k] = value(s, i);
        skip(s, i);
        if (s[i] == ',') { i++; continue; }
        expect(s, i, '}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Array;
      i++;
      skip(s, i);
      if (s[i] == ']') return i++, v;
      for (;;) {
        v.arr.push_back(value(s, i));
        skip(s, i);
        if (s[i] == ',') { i++; continue; }
        expect(s, i, ']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = String;
      v.str = string(s, i);
      return v;
    }
    if (s.compare(i, 4, "true") == 0) return i += 4, v.kind = Bool, v.b = true, v;
    if (s.compare(i, 5, "false") == 0) return i += 5, v.kind = Bool, v;
    if (s.compare(i, 4, "null") == 0) return i += 4, v;
    char* end = nullptr;
    v.num = std::strtod(s.c_str() + i, &end);
    if (end == s.c_str() + i) throw std::runtime_error("JSON: bad value");
    v.kind = Number;
    i = end - s.c_str();
    return v;
  }
};

}  // namespace tools
