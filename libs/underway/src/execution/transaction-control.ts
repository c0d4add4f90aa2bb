/**
 * Finds transaction control in SQL text sent through a transactional
 * attempt's manager: a statement that would end the attempt's transaction
 * (COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION, COMMIT/ROLLBACK
 * PREPARED), begin another (BEGIN, START TRANSACTION), or change how this
 * one or the connection's next ones behave (SET TRANSACTION, SET SESSION
 * CHARACTERISTICS, SET of a `transaction_*` or `default_transaction_*`
 * setting). Every statement of a multi-statement string is looked at, past
 * comments, string literals (also `E'…'` and dollar-quoted), quoted
 * identifiers and empty statements.
 *
 * Savepoints (SAVEPOINT, RELEASE, ROLLBACK TO) are allowed: they cannot end
 * the transaction, and TypeORM's nested `manager.transaction()` uses them.
 * Neither can `DO` or `CALL`: inside a transaction block, PostgreSQL refuses
 * a COMMIT or ROLLBACK in them (and the attempt then fails on its own error).
 *
 * @returns the statement's leading words (`'COMMIT'`, `'SET TRANSACTION'`),
 *   or `undefined` when there is none
 */
export function findTransactionControl(text: string): string | undefined {
  for (const words of statementHeads(text)) {
    const found = transactionControl(words);
    if (found) {
      return found;
    }
  }
  return undefined;
}

/** How many leading words of a statement decide what it is. */
const HEAD_WORDS = 4;

function transactionControl(words: readonly string[]): string | undefined {
  const [first, second, third] = words;
  const head = (n: number): string => words.slice(0, n).join(' ').toUpperCase();
  /** `COMMIT`, `COMMIT PREPARED`, `BEGIN TRANSACTION`… */
  const command = (): string =>
    head(
      second === 'transaction' || second === 'work' || second === 'prepared'
        ? 2
        : 1,
    );
  switch (first) {
    case 'begin':
    case 'commit':
    case 'end':
    case 'abort':
      return command();
    case 'start':
      return second === 'transaction' ? head(2) : undefined;
    case 'rollback': {
      // ROLLBACK [WORK | TRANSACTION] TO [SAVEPOINT] name: a savepoint's.
      const next =
        second === 'work' || second === 'transaction' ? third : second;
      return next === 'to' ? undefined : command();
    }
    case 'prepare':
      return second === 'transaction' ? head(2) : undefined;
    case 'set': {
      const name = second === 'local' || second === 'session' ? third : second;
      if (
        name === 'transaction' ||
        name === 'characteristics' ||
        name?.startsWith('transaction_') ||
        name?.startsWith('default_transaction_')
      ) {
        return head(name === second ? 2 : 3);
      }
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The first words (lower case) of each statement of `text`. */
function statementHeads(text: string): string[][] {
  const heads: string[][] = [];
  let words: string[] = [];
  /** Whether the current statement still reads leading words. */
  let reading = true;
  const endWord = (word: string): void => {
    if (reading && words.length < HEAD_WORDS) {
      words.push(word.toLowerCase());
    }
  };
  const other = (): void => {
    reading = false;
  };
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    const next = text[i + 1];
    if (c === ';') {
      if (words.length > 0) {
        heads.push(words);
      }
      words = [];
      reading = true;
      i += 1;
    } else if (/\s/.test(c)) {
      i += 1;
    } else if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i + 2);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && next === '*') {
      i = skipBlockComment(text, i);
    } else if (c === "'") {
      other();
      i = skipQuoted(text, i, "'", false);
    } else if (c === '"') {
      other();
      i = skipQuoted(text, i, '"', false);
    } else if (c === '$' && dollarTag(text, i) !== undefined) {
      other();
      const tag = dollarTag(text, i)!;
      const end = text.indexOf(tag, i + tag.length);
      i = end === -1 ? n : end + tag.length;
    } else if (isWordStart(c)) {
      let j = i + 1;
      while (j < n && isWordPart(text[j]!)) {
        j += 1;
      }
      const word = text.slice(i, j);
      if (text[j] === "'") {
        // E'…' (backslash escapes), or B'…', X'…', U&'…' : a literal.
        other();
        i = skipQuoted(text, j, "'", word.toLowerCase() === 'e');
      } else {
        endWord(word);
        i = j;
      }
    } else {
      other();
      i += 1;
    }
  }
  if (words.length > 0) {
    heads.push(words);
  }
  return heads;
}

function isWordStart(c: string): boolean {
  return /[A-Za-z_]/.test(c) || c > '\u007f';
}

function isWordPart(c: string): boolean {
  return /[A-Za-z0-9_$]/.test(c) || c > '\u007f';
}

/** Past a `/* … *\/` comment (they nest in PostgreSQL). */
function skipBlockComment(text: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth += 1;
      i += 2;
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth -= 1;
      i += 2;
      if (depth === 0) {
        return i;
      }
    } else {
      i += 1;
    }
  }
  return text.length;
}

/** Past a quoted literal or identifier starting at `start` (doubled quotes escape). */
function skipQuoted(
  text: string,
  start: number,
  quote: string,
  backslashEscapes: boolean,
): number {
  let i = start + 1;
  while (i < text.length) {
    const c = text[i];
    if (backslashEscapes && c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (text[i + 1] === quote) {
        i += 2;
      } else {
        return i + 1;
      }
    } else {
      i += 1;
    }
  }
  return text.length;
}

/** The `$tag$` opening a dollar-quoted string at `start` (not a `$1` parameter). */
function dollarTag(text: string, start: number): string | undefined {
  const match =
    /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(
      text.slice(start, start + 66),
    );
  return match?.[0];
}
