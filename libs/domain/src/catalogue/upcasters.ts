import type { SurveyAnsweredV1, SurveyAnsweredV2 } from './payloads';
import { TOUCHPOINT_CATALOGUE, isTouchpointType } from './catalogue';

/** Lifts a payload from version `from` to `from + 1`. Pure; never loses information. */
type Upcaster = (data: any) => unknown;

const surveyV1ToV2 = (v1: SurveyAnsweredV1): SurveyAnsweredV2 => {
  const { survey, score, ...rest } = v1;
  return { ...rest, [survey]: score };
};

/** upcasters[type][from] lifts `from` to `from + 1`. */
const UPCASTERS: Record<string, Record<number, Upcaster>> = {
  'survey.answered': { 1: surveyV1ToV2 },
};

/** Reads any accepted version of a payload as the latest version of its type. */
export function upcast(type: string, schemaVersion: number, data: unknown): { schemaVersion: number; data: unknown } {
  if (!isTouchpointType(type)) return { schemaVersion, data };
  const latest = TOUCHPOINT_CATALOGUE[type].latestVersion;
  let version = schemaVersion;
  let current = data;
  while (version < latest) {
    const lift = UPCASTERS[type]?.[version];
    if (!lift) throw new Error(`no upcaster for ${type} v${version}`);
    current = lift(current);
    version++;
  }
  return { schemaVersion: version, data: current };
}
