// `node --import ./scripts/register.mjs`: TypeScript through tsx, plus .wgsl files as text.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

register('./wgsl-hooks.mjs', import.meta.url);
registerTsx();
