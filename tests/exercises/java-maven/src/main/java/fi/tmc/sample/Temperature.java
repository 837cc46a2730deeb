package fi.tmc.sample;

/** The student's part: conversions, one of them wrong on purpose. */
public class Temperature {
	public static double toFahrenheit(double celsius) {
		return celsius * 9 / 5 + 32;
	}

	public static double toKelvin(double celsius) {
		return celsius + 273.15;
	}

	/** The bug the failing test finds: the offset is applied twice. */
	public static double fromFahrenheit(double fahrenheit) {
		return (fahrenheit - 32 - 32) * 5 / 9;
	}
}
