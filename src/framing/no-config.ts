/*
 * checkConfig for framing functions that take no config. A config given to them is refused at
 * start-up: it would otherwise be ignored silently, hiding a typo in the framing name or config.
 */

export function refuseConfig(name: string): (config: string | null) => void {
  return (config) => {
    if (config !== null) {
      throw new Error(`${name} takes no framing-config, but got ${JSON.stringify(config)}; remove it`);
    }
  };
}
