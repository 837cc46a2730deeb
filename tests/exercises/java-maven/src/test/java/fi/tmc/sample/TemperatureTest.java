package fi.tmc.sample;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class TemperatureTest {
	@Test
	public void freezingInFahrenheit() {
		assertEquals(32.0, Temperature.toFahrenheit(0), 1e-9);
	}

	@Test
	public void boilingInKelvin() {
		assertEquals(373.15, Temperature.toKelvin(100), 1e-9);
	}

	@Test
	public void bodyTemperatureBack() {
		assertEquals("98.6 F in Celsius", 37.0, Temperature.fromFahrenheit(98.6), 1e-9);
	}
}
