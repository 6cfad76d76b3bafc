/*
 * Runs cases until the deadline, `concurrency` at a time. A case still waiting after a second
 * (a request uWS holds for ~10 s, a stalled reader) moves to the background so that it does not
 * hold a worker, up to four times `concurrency` cases in all; stalled readers, which pin
 * megabytes in the server, run at most four at once. Every answer is counted per class, and
 * the cases in flight at any moment can be listed (to name the input behind a log line).
 */
import { errorMessage } from '../src/lib/errors.js';
import { CaseSeeds, drawCase, type DrawnCase } from './case-source.js';
import { CaseScope, type CaseClass, type CaseOutcome } from './fuzz-case.js';
import { cutAll, delay } from './raw-connection.js';
import type { Targets } from './targets.js';
import type { TargetName } from './target-paths.js';

const FOREGROUND_MS = 1000;
const MAX_STALLED = 4;

export interface CaseRecord {
  readonly index: number;
  readonly seed: number;
  readonly kind: CaseClass;
  readonly target: TargetName;
  readonly input: string;
  readonly startedAt: number;
}

export type Counts = Map<string, number>;

function add(counts: Counts, key: string, amount = 1): void {
  counts.set(key, (counts.get(key) ?? 0) + amount);
}

export class Runner {
  readonly inFlight = new Map<number, CaseRecord>();
  readonly answers = new Map<CaseClass, Counts>();
  readonly extras = new Map<CaseClass, Counts>();
  readonly perTarget: Counts = new Map();
  /** Cases whose own code threw: each one is a fuzzer bug or a server that would not even connect. */
  readonly fuzzerErrors: Array<{ record: CaseRecord; error: string }> = [];
  finished = 0;
  cutAtEnd = 0;
  private nextIndex = 0;
  /** Set while a run cuts what is left, and for good by stop(). */
  private stopping = false;
  private halted = false;
  private readonly seeds: CaseSeeds;
  private stalled = 0;
  private wakers: Array<() => void> = [];

  /** Called with every case that finishes (FUZZ_VERBOSE). */
  onCase: ((record: CaseRecord, outcome: CaseOutcome) => void) | null = null;

  constructor(
    private readonly targets: Targets,
    private readonly classes: readonly CaseClass[],
    private readonly concurrency: number,
    seed: number,
  ) {
    this.seeds = new CaseSeeds(seed);
  }

  /**
   * Runs cases until `deadline` (or stop()); then cuts whatever is still open. A later run
   * goes on with the same sequence of case seeds.
   */
  async run(deadline: number): Promise<void> {
    const workers = Array.from({ length: this.concurrency }, () => this.worker(this.seeds, deadline));
    await Promise.all(workers);
    this.stopping = true;
    cutAll();
    // Cases see their connections cut and finish; bounded in case one does not notice.
    const until = Date.now() + 5000;
    while (this.inFlight.size > 0 && Date.now() < until) await Promise.race([this.settled(), delay(100)]);
    this.stopping = this.halted;
  }

  /** Ends the run for good (the server died). */
  stop(): void {
    this.stopping = true;
    this.halted = true;
    this.wakeAll();
  }

  /** Runs one case by itself (FUZZ_CASE). */
  async runOne(seed: number): Promise<{ record: CaseRecord; outcome: CaseOutcome }> {
    return this.start(0, drawCase(seed, this.targets, this.classes));
  }

  private async worker(seeds: CaseSeeds, deadline: number): Promise<void> {
    while (!this.stopping && Date.now() < deadline) {
      const index = this.nextIndex++;
      const drawn = drawCase(seeds.next(), this.targets, this.classes);
      if (drawn.fuzzCase.kind === 'stalled' && !(await this.room(() => this.stalled < MAX_STALLED, deadline))) return;
      const running = this.start(index, drawn);
      const quick = await Promise.race([running.then(() => true), delay(FOREGROUND_MS).then(() => false)]);
      if (!quick) await this.room(() => this.inFlight.size < 4 * this.concurrency, deadline);
    }
  }

  /** Waits until `free()` holds; false if the run stops or reaches its deadline first. */
  private async room(free: () => boolean, deadline: number): Promise<boolean> {
    while (!free()) {
      const left = deadline - Date.now();
      if (this.stopping || left <= 0) return false;
      await Promise.race([this.settled(), delay(left)]);
    }
    return true;
  }

  private async start(index: number, drawn: DrawnCase): Promise<{ record: CaseRecord; outcome: CaseOutcome }> {
    const { fuzzCase } = drawn;
    const record: CaseRecord = { index, seed: drawn.seed, kind: fuzzCase.kind, target: fuzzCase.target, input: fuzzCase.input, startedAt: Date.now() };
    this.inFlight.set(index, record);
    if (fuzzCase.kind === 'stalled') this.stalled++;
    const scope = new CaseScope(this.targets, drawn.random);
    let outcome: CaseOutcome;
    try {
      outcome = await fuzzCase.run(scope);
    } catch (error) {
      outcome = { answer: 'fuzzer error' };
      if (!this.stopping) this.fuzzerErrors.push({ record, error: errorMessage(error) });
    } finally {
      scope.finish();
      this.inFlight.delete(index);
      if (fuzzCase.kind === 'stalled') this.stalled--;
    }
    this.count(record, outcome);
    this.onCase?.(record, outcome);
    this.wakeAll();
    return { record, outcome };
  }

  private count(record: CaseRecord, outcome: CaseOutcome): void {
    if (this.stopping) {
      this.cutAtEnd++;
      return;
    }
    this.finished++;
    add(this.perTarget, record.target);
    const answers = this.answers.get(record.kind) ?? new Map<string, number>();
    this.answers.set(record.kind, answers);
    add(answers, outcome.answer);
    const extras = this.extras.get(record.kind) ?? new Map<string, number>();
    this.extras.set(record.kind, extras);
    for (const [key, value] of Object.entries(outcome.extras ?? {})) if (value !== 0) add(extras, key, value);
  }

  private settled(): Promise<void> {
    return new Promise((resolve) => this.wakers.push(resolve));
  }

  private wakeAll(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const wake of wakers) wake();
  }
}
