/*
 * HTTP-dates (RFC 9110 §5.6.7): written as IMF-fixdate, read in all three forms a recipient
 * must accept, and nothing else. Date.parse is not used: it reads almost anything ("1" is a
 * date in 2001), and a conditional request built on a misread date answers with the wrong body.
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
const MONTH = `(${MONTHS.join('|')})`;
/** Each form, and which capture group holds which part (the time is three groups from `hours`). */
const FORMS: ReadonlyArray<{ readonly pattern: RegExp; readonly day: number; readonly month: number; readonly year: number; readonly hours: number }> = [
  // Sun, 06 Nov 1994 08:49:37 GMT
  { pattern: new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`), day: 1, month: 2, year: 3, hours: 4 },
  // Sunday, 06-Nov-94 08:49:37 GMT
  { pattern: new RegExp(`^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`), day: 1, month: 2, year: 3, hours: 4 },
  // Sun Nov  6 08:49:37 1994
  { pattern: new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ([ \\d]\\d) ${TIME} (\\d{4})$`), day: 2, month: 1, year: 6, hours: 3 },
];

/** `milliseconds` as an IMF-fixdate, to the second. */
export function formatHttpDate(milliseconds: number): string {
  return new Date(milliseconds).toUTCString();
}

/** A two-digit year more than 50 years ahead is the most recent past year ending in those digits (§5.6.7). */
function fullYear(twoDigits: number, now: number): number {
  const thisYear = new Date(now).getUTCFullYear();
  let year = thisYear - (thisYear % 100) + twoDigits;
  if (year > thisYear + 50) year -= 100;
  return year;
}

/** Milliseconds since the epoch (a whole second), or null when `text` is not an HTTP-date. */
export function parseHttpDate(text: string, now = Date.now()): number | null {
  for (const form of FORMS) {
    const match = form.pattern.exec(text);
    if (match === null) continue;
    const number = (group: number): number => Number((match[group] ?? '').trim());
    const yearDigits = match[form.year] ?? '';
    const year = yearDigits.length === 2 ? fullYear(Number(yearDigits), now) : Number(yearDigits);
    const month = MONTHS.indexOf(match[form.month] ?? '');
    const [day, hours, minutes, seconds] = [number(form.day), number(form.hours), number(form.hours + 1), number(form.hours + 2)];
    const time = Date.UTC(year, month, day, hours, minutes, seconds);
    // Date.UTC rolls 31 Feb over into March and 25:00 into the next day: refuse instead.
    const back = new Date(time);
    const exact = back.getUTCFullYear() === year && back.getUTCMonth() === month && back.getUTCDate() === day
      && back.getUTCHours() === hours && back.getUTCMinutes() === minutes && back.getUTCSeconds() === seconds;
    return exact ? time : null;
  }
  return null;
}
