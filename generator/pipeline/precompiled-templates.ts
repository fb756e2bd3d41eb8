/**
 * The bundled templates, precompiled. Empty here: scripts/build.mjs replaces
 * this module in the bundle with every templates/**.hbs compiled ahead of time,
 * so a boot-time run loads only the small handlebars runtime, not its compiler.
 */
import type Handlebars from 'handlebars';

/** What Handlebars.precompile produces and Handlebars.template takes. */
export type TemplateSpec = Parameters<typeof Handlebars.template>[0];

export const PRECOMPILED: Readonly<Record<string, TemplateSpec>> | null = null;

/** templates/ relative to this module: two levels up from generator/pipeline/ here, one from dist/ in the bundle. */
export const TEMPLATES_FROM_MODULE: string = '../../templates';
