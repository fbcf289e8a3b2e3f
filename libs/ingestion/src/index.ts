export * from './errors';
export * from './ingestion.port';
export * from './ingestion.service';
export * from './validation/validate-envelope';
export * from './dto/envelope.dto';
export * from './dto/identifier.dto';
export * from './dto/payload.dtos';
export { CalendarDate, IsoInstant, Money } from './dto/common';
