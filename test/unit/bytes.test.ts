import test from 'ava';
import fc from 'fast-check';
import { compareBytes } from '../../generator/util/bytes.js';

const encoded = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

test('compareBytes orders as the UTF-8 bytes do, lone surrogates (written as U+FFFD) included', (t) => {
  // Units where UTF-16 and UTF-8 order disagree, and where they meet.
  const unit = fc.constantFrom('a', 'b', '\u00e9', '\ud7ff', '\ud800', '\udbff', '\udc00', '\udfff', '\ue000', '\ufffd', '\uffff', '\u{1f600}', '\u{10ffff}');
  const str = fc.array(unit, { maxLength: 6 }).map((units) => units.join(''));
  fc.assert(fc.property(str, str, (a, b) => compareBytes(a, b) === encoded(a, b) && compareBytes(a, a + b) === encoded(a, a + b)), { numRuns: 20000 });
  t.true(compareBytes('\uffff', '\u{1f600}') < 0);
  t.is(compareBytes('\ud800', '\udc00'), 0);
  t.is(compareBytes('', ''), 0);
});
