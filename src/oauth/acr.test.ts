import { describe, expect, it } from 'vitest';
import { ACR_MFA, ACR_PWD, acrOf, acrRequiresMfa } from './acr.js';

describe('acr', () => {
  it('is mfa only when the methods say two factors were used', () => {
    expect(acrOf(['pwd'])).toBe(ACR_PWD);
    expect(acrOf(['ext'])).toBe(ACR_PWD);
    expect(acrOf(['pwd', 'otp', 'mfa'])).toBe(ACR_MFA);
  });

  it('acr_values require mfa when they name it and no lower level', () => {
    expect(acrRequiresMfa(undefined)).toBe(false);
    expect(acrRequiresMfa(ACR_MFA)).toBe(true);
    expect(acrRequiresMfa(`urn:other ${ACR_MFA}`)).toBe(true);
    expect(acrRequiresMfa(`${ACR_MFA} ${ACR_PWD}`)).toBe(false);
    expect(acrRequiresMfa('urn:other')).toBe(false);
  });
});
