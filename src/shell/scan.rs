//! Splits shell input into SQL statements and backslash commands, the way
//! psql's lexer does.
//!
//! Input arrives a line at a time. A statement ends at a `;` outside quotes
//! (`'...'`, `E'...'` with backslash escapes, `"..."`, dollar quotes
//! `$tag$...$tag$`), comments (`-- ...`, nested `/* ... */`) and
//! parentheses. A backslash outside all of those starts a meta command that
//! runs to the end of the line; SQL text before it stays in the query buffer.

/// What a line produced, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A complete statement, including its `;`.
    Statement(String),
    /// A backslash command: the text after the `\` up to the end of the line.
    Meta(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    Normal,
    Single { escapes: bool },
    Double,
    Dollar(String),
    Comment(usize),
}

/// The query buffer and the lexical state at its end.
#[derive(Debug)]
pub struct Scanner {
    buf: String,
    state: State,
    parens: usize,
    /// The buffer holds more than whitespace and comments.
    content: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

/// The dollar-quote tag (`$tag$`, or `$$`) starting at `chars[i]`, if any.
fn dollar_tag(chars: &[char], i: usize) -> Option<String> {
    if i > 0 && is_ident_char(chars[i - 1]) {
        return None; // part of an identifier such as a$b
    }
    let mut j = i + 1;
    while j < chars.len() && chars[j] != '$' {
        let c = chars[j];
        let ok = if j == i + 1 {
            c.is_alphabetic() || c == '_'
        } else {
            c.is_alphanumeric() || c == '_'
        };
        if !ok {
            return None;
        }
        j += 1;
    }
    if j < chars.len() {
        Some(chars[i..=j].iter().collect())
    } else {
        None
    }
}

fn starts_with_at(chars: &[char], i: usize, pat: &str) -> bool {
    let pat: Vec<char> = pat.chars().collect();
    chars.get(i..i + pat.len()) == Some(&pat[..])
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner {
            buf: String::new(),
            state: State::Normal,
            parens: 0,
            content: false,
        }
    }

    /// Nothing but whitespace or comments is buffered.
    pub fn is_empty(&self) -> bool {
        !self.content && self.state == State::Normal
    }

    /// The query buffer so far.
    pub fn buffer(&self) -> &str {
        &self.buf
    }

    /// Takes the buffered (incomplete) statement, if it has any content, and
    /// resets the scanner.
    pub fn take(&mut self) -> Option<String> {
        let content = self.content;
        let sql = std::mem::take(&mut self.buf);
        self.reset();
        content.then(|| sql.trim().to_string())
    }

    /// Empties the query buffer (`\r`, Ctrl-C).
    pub fn reset(&mut self) {
        *self = Scanner::new();
    }

    /// psql's prompt character for the state the buffer ends in: `=` for a
    /// new statement, `-` for a continuation, `'`, `"`, `$`, `*` or `(` when
    /// inside a quote, dollar quote, comment or parentheses.
    pub fn prompt_char(&self) -> char {
        match &self.state {
            State::Single { .. } => '\'',
            State::Double => '"',
            State::Dollar(_) => '$',
            State::Comment(_) => '*',
            State::Normal if self.parens > 0 => '(',
            State::Normal if self.content => '-',
            State::Normal => '=',
        }
    }

    /// Feeds one line (without its newline); returns the statements it
    /// completed and the meta commands it held.
    pub fn feed_line(&mut self, line: &str) -> Vec<Item> {
        let chars: Vec<char> = line.chars().collect();
        let mut items = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match self.state.clone() {
                State::Normal => {
                    if c == '\\' {
                        let meta: String = chars[i + 1..].iter().collect();
                        items.push(Item::Meta(meta.trim_end().to_string()));
                        // The line ends here as far as the query buffer goes.
                        if self.content {
                            self.buf.push('\n');
                        }
                        return items;
                    }
                    if c == '-' && chars.get(i + 1) == Some(&'-') {
                        let rest: String = chars[i..].iter().collect();
                        self.buf.push_str(&rest);
                        break;
                    }
                    if c == '/' && chars.get(i + 1) == Some(&'*') {
                        self.state = State::Comment(1);
                        self.buf.push_str("/*");
                        i += 2;
                        continue;
                    }
                    if c == ';' && self.parens == 0 {
                        self.buf.push(';');
                        let sql = std::mem::take(&mut self.buf);
                        if self.content {
                            items.push(Item::Statement(sql.trim().to_string()));
                        }
                        self.content = false;
                        i += 1;
                        continue;
                    }
                    match c {
                        '\'' => {
                            let escapes = i > 0
                                && matches!(chars[i - 1], 'e' | 'E')
                                && (i < 2 || !is_ident_char(chars[i - 2]));
                            self.state = State::Single { escapes };
                        }
                        '"' => self.state = State::Double,
                        '$' => {
                            if let Some(tag) = dollar_tag(&chars, i) {
                                let n = tag.chars().count();
                                self.buf.push_str(&tag);
                                self.state = State::Dollar(tag);
                                self.content = true;
                                i += n;
                                continue;
                            }
                        }
                        '(' => self.parens += 1,
                        ')' => self.parens = self.parens.saturating_sub(1),
                        _ => {}
                    }
                    if !c.is_whitespace() {
                        self.content = true;
                    }
                    if self.content || !c.is_whitespace() {
                        self.buf.push(c);
                    }
                    i += 1;
                }
                State::Single { escapes } => {
                    self.buf.push(c);
                    if escapes && c == '\\' {
                        if let Some(&n) = chars.get(i + 1) {
                            self.buf.push(n);
                        }
                        i += 2;
                        continue;
                    }
                    if c == '\'' {
                        if chars.get(i + 1) == Some(&'\'') {
                            self.buf.push('\'');
                            i += 2;
                            continue;
                        }
                        self.state = State::Normal;
                    }
                    i += 1;
                }
                State::Double => {
                    self.buf.push(c);
                    if c == '"' {
                        if chars.get(i + 1) == Some(&'"') {
                            self.buf.push('"');
                            i += 2;
                            continue;
                        }
                        self.state = State::Normal;
                    }
                    i += 1;
                }
                State::Dollar(tag) => {
                    if starts_with_at(&chars, i, &tag) {
                        self.buf.push_str(&tag);
                        self.state = State::Normal;
                        i += tag.chars().count();
                        continue;
                    }
                    self.buf.push(c);
                    i += 1;
                }
                State::Comment(depth) => {
                    if c == '*' && chars.get(i + 1) == Some(&'/') {
                        self.buf.push_str("*/");
                        self.state = if depth == 1 {
                            State::Normal
                        } else {
                            State::Comment(depth - 1)
                        };
                        i += 2;
                        continue;
                    }
                    if c == '/' && chars.get(i + 1) == Some(&'*') {
                        self.buf.push_str("/*");
                        self.state = State::Comment(depth + 1);
                        i += 2;
                        continue;
                    }
                    self.buf.push(c);
                    i += 1;
                }
            }
        }
        if !self.buf.is_empty() {
            self.buf.push('\n');
        }
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(lines: &[&str]) -> (Vec<Item>, Scanner) {
        let mut s = Scanner::new();
        let mut items = Vec::new();
        for l in lines {
            items.extend(s.feed_line(l));
        }
        (items, s)
    }

    fn stmt(s: &str) -> Item {
        Item::Statement(s.to_string())
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes() {
        let (items, s) = feed(&["select 1; select ';'", "  ;select 3"]);
        assert_eq!(items, vec![stmt("select 1;"), stmt("select ';'\n  ;")]);
        assert_eq!(s.prompt_char(), '-');
        let (items, s) = feed(&["select 'it''s;", "still; quoted'; x"]);
        assert_eq!(items, vec![stmt("select 'it''s;\nstill; quoted';")]);
        assert!(!s.is_empty());
    }

    #[test]
    fn escapes_identifiers_dollar_quotes_and_comments() {
        let (items, _) = feed(&[r"select E'a\';b', 'c\'; x"]);
        assert_eq!(items, vec![stmt(r"select E'a\';b', 'c\';")]);
        let (items, s) = feed(&["select \"a;\"\"b\", $$ x; $ y", "$$, $q$;$q$;"]);
        assert_eq!(
            items,
            vec![stmt("select \"a;\"\"b\", $$ x; $ y\n$$, $q$;$q$;")]
        );
        assert!(s.is_empty());
        let (items, s) = feed(&["select 1 -- not; here", "/* a /* b; */ c; */ ;"]);
        assert_eq!(
            items,
            vec![stmt("select 1 -- not; here\n/* a /* b; */ c; */ ;")]
        );
        assert!(s.is_empty());
        let (items, s) = feed(&["select a$1, $1; select (1;"]);
        assert_eq!(items, vec![stmt("select a$1, $1;")]);
        assert_eq!(s.prompt_char(), '(');
    }

    #[test]
    fn meta_commands_and_prompts() {
        let (items, mut s) = feed(&["select 1 \\g", "\\dt  "]);
        assert_eq!(items, vec![Item::Meta("g".into()), Item::Meta("dt".into())]);
        assert_eq!(s.take().as_deref(), Some("select 1"));
        let (items, s) = feed(&["select '\\dt"]);
        assert!(items.is_empty());
        assert_eq!(s.prompt_char(), '\'');
        let (_, s) = feed(&["-- only a comment", "   "]);
        assert!(s.is_empty());
        assert_eq!(s.prompt_char(), '=');
        let (_, s) = feed(&["/* open"]);
        assert_eq!(s.prompt_char(), '*');
        let (items, s) = feed(&[";;"]);
        assert!(items.is_empty() && s.is_empty());
    }
}
